/**
 * A sweep with a selection rule on a real run: three learning rates of gradient descent on 3 MNIST
 * seeds with a validation split; the oracle rule picks, per budget, the variant closest to
 * retraining on GUS among those that keep validation accuracy, and only it gets a verdict.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJsonl, runInProcess, tempDir, writeManifest } from './helpers.ts';

const manifest = {
  name: 'selection',
  seeds: [1, 2, 3],
  dataset: { use: 'core/mnist', options: { trainSize: 1200, testSize: 400, validationSize: 400 } },
  model: { use: 'core/mlp', options: { hidden: [96] } },
  training: { epochs: 4, batchSize: 64, learningRate: 0.01, momentum: 0.9 },
  attacks: [{ use: 'core/gaussian', options: { count: 120, sigma: 1.0 } }],
  unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd', sweep: { learningRate: [0.001, 0.01, 0.1] } }],
  budgets: [0.1],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
  selection: { rule: 'oracle', metric: 'gus', maxAccuracyDrop: 0.01 },
};

type Line = Record<string, unknown> & { unlearner: string; metric: string; mean: number };

describe('oracle selection over a sweep on a real run', () => {
  let lines: Line[];
  let printed: string;
  let out: string;
  beforeAll(async () => {
    out = tempDir();
    const { code, stdout } = await runInProcess(['run', writeManifest(manifest), '--out', out, '--quiet', '--workers', '1']);
    expect(code).toBe(0);
    printed = stdout;
    lines = readJsonl<Line>(join(out, 'summary.jsonl'));
  });
  const at = (unlearner: string, metric: string) => lines.find((l) => l.unlearner === unlearner && l.metric === metric)!;
  const variants = ['gd[learningRate=0.001]', 'gd[learningRate=0.01]', 'gd[learningRate=0.1]'];

  it('picks the variant the rule defines, recomputed from the exported means', () => {
    const floor = at('none', 'accuracy:validation').mean - 0.01;
    const target = at('retrain', 'gus').mean;
    const eligible = variants.filter((v) => at(v, 'accuracy:validation').mean >= floor);
    const best = (eligible.length > 0 ? eligible : variants).reduce((b, v) => (Math.abs(at(v, 'gus').mean - target) < Math.abs(at(b, 'gus').mean - target) ? v : b));
    for (const v of variants) expect(at(v, 'gus')).toMatchObject({ variantOf: 'gd', selected: v === best, selectedFrom: 3 });
    expect(at(best, 'gus')).toHaveProperty('verdict');
    for (const v of variants.filter((v) => v !== best)) expect(at(v, 'gus')).not.toHaveProperty('verdict');
  });

  it('says in the output which rule chose and that it saw the poison metric, and marks the chosen row', () => {
    expect(printed).toContain('note: selection (oracle: per method and budget, the variant closest to retraining on gus among those within 0.01 of the poisoned model');
    expect(printed).toContain('It saw the poison metric: the strongest case for each method');
    expect(printed).toMatch(/\ngd\[learningRate=[0-9.]+\] \* +10%/);
    expect(printed).toContain('called equivalent only at α/G (Bonferroni over the grid)');
    expect(at('none', 'accuracy:validation').n).toBe(3);
  });

  it('report shows the chosen variants and the grid by default, and every variant with --all-variants', async () => {
    const chosen = await runInProcess(['report', out, '--metrics', 'accuracy,gus']);
    expect(chosen.code).toBe(0);
    const rows = (text: string) => text.split('\n').filter((l) => /^gd\[learningRate=[0-9.]+\]( \*)? +10% +0\.\d/.test(l));
    expect(rows(chosen.stdout)).toHaveLength(1);
    expect(chosen.stdout).toMatch(/\ngd +learningRate ∈ \{0\.001, 0\.01, 0\.1\} \(3\) +learningRate=/);
    const all = await runInProcess(['report', out, '--metrics', 'accuracy,gus', '--all-variants']);
    expect(all.code).toBe(0);
    expect(rows(all.stdout)).toHaveLength(3);
  });
});
