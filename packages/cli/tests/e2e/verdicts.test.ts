/**
 * The verdicts on a real run (issue: verdicts a statistician would sign): 5 MNIST seeds with a
 * retrain replica, a gradient-descent method and gradient ascent with a huge learning rate.
 * The replica of retraining is never called different, the poisoned model's GUS is, and the
 * diverged method shows no number anywhere.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJsonl, runInProcess, tempDir, writeManifest } from './helpers.ts';

const manifest = {
  name: 'verdicts',
  seeds: [1, 2, 3, 4, 5],
  dataset: { use: 'core/mnist', options: { trainSize: 1200, testSize: 400 } },
  model: { use: 'core/mlp', options: { hidden: [96] } },
  training: { epochs: 4, batchSize: 64, learningRate: 0.01, momentum: 0.9 },
  attacks: [{ use: 'core/gaussian', options: { count: 120, sigma: 1.0 } }],
  unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/retrain-replica' }, { use: 'core/ga', label: 'ga-huge', options: { learningRate: 1000 } }],
  budgets: [0.1],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
};

type Line = Record<string, unknown> & { unlearner: string; metric: string };

describe('verdicts on a real 5-seed run', () => {
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

  it('never calls the retrain replica different, on any metric', () => {
    for (const metric of ['accuracy', 'gus', 'gus:fresh-noise']) expect(['equivalent', 'inconclusive']).toContain(at('retrain-replica', metric).verdict);
    expect(at('retrain-replica', 'accuracy')).toMatchObject({ budget: null, pairs: 5 });
    expect(['equivalent', 'inconclusive']).toContain(at('retrain-replica', 'accuracy').methodVerdict);
  });

  it("calls the poisoned model's GUS different (remembered) from the pooled scores of all seeds", () => {
    expect(at('none', 'gus')).toMatchObject({ verdict: 'different', direction: 'remembered', methodVerdict: 'different', pooledScores: 600, nullVerdict: 'remembered' });
    expect(at('none', 'gus:fresh-noise').verdict).not.toBe('different');
  });

  it('marks gradient ascent with a huge learning rate diverged: no mean or interval is a number, in summary.jsonl or the tables', () => {
    for (const metric of ['accuracy', 'gus']) {
      const line = at('ga-huge', metric);
      expect(line).toMatchObject({ verdict: 'diverged', methodVerdict: 'diverged', mean: null, std: null, ci95: [null, null], n: 0, meanDifference: null });
      expect((line.diverged as number[]).length).toBeGreaterThan(0);
      expect(line.divergedReason).toMatch(/non-finite|blow-up/);
    }
    const rows = printed.split('\n').filter((l) => l.startsWith('ga-huge'));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).not.toMatch(/\d\.\d{3}/);
    expect(rows[0]).toMatch(/diverged on [1-5] of 5 seeds/);
  });

  it('shows the diverged method as diverged in the HTML report the run wrote, with no line or histogram of it', () => {
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/<li>ga-huge @ 10%: diverged on [1-5] of 5 seed\(s\) \(/);
    // Its cells in the verdict matrix's data.
    expect(html).toMatch(/"model":"ga-huge @ 10%","metric":"accuracy","verdict":"diverged"/);
    expect(html).toMatch(/"model":"ga-huge @ 10%","metric":"gus","verdict":"diverged"/);
    expect(html).not.toContain('ga-huge @ 10%: mean I'); // no histogram of a diverged model's scores
  });
});
