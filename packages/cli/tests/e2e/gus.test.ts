/**
 * The study's controls on a small real run (MNIST, MLP, Gaussian poisons): the poisoned model's
 * GUS is clearly non-null on every seed, the retrained model's is null, and so is the fresh-noise
 * control of every model. Also: a model that never trained at all scores null on several seeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Artifacts, GAUSSIAN_NOISE, createRng, silentLogger, type ResultRecord } from '@unlearn-bench/core';
import { createEngine, mlpModel, mnistDataset } from '@unlearn-bench/models';
import { gaussianAttack } from '@unlearn-bench/attacks';
import { gusMetric } from '@unlearn-bench/metrics';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

const manifest = {
  name: 'gus-controls',
  seeds: [1, 2, 3],
  dataset: { use: 'core/mnist', options: { trainSize: 3000, testSize: 500 } },
  model: { use: 'core/mlp', options: { hidden: [256] } },
  training: { epochs: 6, batchSize: 64, learningRate: 0.01 },
  attacks: [{ use: 'core/gaussian', options: { count: 200, sigma: 1.0 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.05],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
};

describe('GUS controls on a real run', () => {
  let records: ResultRecord[];
  let summary: { unlearner: string; metric: string; mean: number; n: number; stoufferZ: number; pooledScores: number; nullVerdict: string }[];
  let printed: string;
  beforeAll(async () => {
    const out = tempDir();
    const { code, stdout, stderr } = await runInProcess(['run', writeManifest(manifest), '--out', out, '--quiet']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    printed = stdout;
    records = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as ResultRecord);
    summary = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as (typeof summary)[number]);
  });

  const value = (seed: number, unlearner: string, metric: string) => records.find((r) => r.seed === seed && r.unlearner === unlearner && r.metric === metric)!.value!;

  it.each([1, 2, 3])('seed %i: poisoned model z ≤ −4, retrained |z| < 3, every fresh-noise control |z| < 3', (seed) => {
    expect(value(seed, 'none', 'gus')).toBeLessThanOrEqual(-4);
    expect(Math.abs(value(seed, 'retrain', 'gus'))).toBeLessThan(3);
    for (const unlearner of ['none', 'retrain', 'gd']) expect(Math.abs(value(seed, unlearner, 'gus:fresh-noise'))).toBeLessThan(3);
    expect(value(seed, 'none', 'accuracy')).toBeGreaterThan(0.85);
  });

  it('pools the seeds into one null test per model (core/null-test, on by default): the poison is detected, the controls are not', () => {
    const at = (unlearner: string, metric: string) => summary.find((l) => l.unlearner === unlearner && l.metric === metric)!;
    expect(at('none', 'gus').nullVerdict).toBe('remembered');
    expect(at('gd', 'gus').nullVerdict).toBe('remembered');
    expect(at('retrain', 'gus').nullVerdict).toBe('null');
    for (const unlearner of ['none', 'retrain', 'gd']) expect(at(unlearner, 'gus:fresh-noise').nullVerdict).toBe('null');
    // Equal k per seed: √K · pooled mean = Stouffer's sum of the per-seed z over √3, from the records
    const sum = [1, 2, 3].reduce((acc, seed) => acc + value(seed, 'none', 'gus'), 0);
    expect(at('none', 'gus').pooledScores).toBe(600);
    expect(at('none', 'gus').stoufferZ).toBeCloseTo(sum / Math.sqrt(3), 8);
    expect(printed).toMatch(/poison scores pooled over seeds, gaussian: mean per-poison score I/);
  });

  it('reports the mean, p-value and TPR at 1% FPR in the details', () => {
    const poisoned = records.find((r) => r.seed === 1 && r.unlearner === 'none' && r.metric === 'gus')!;
    expect(poisoned.details).toMatchObject({ k: 200, sigma: 1, skipped: 0 });
    expect(poisoned.details!.mean as number).toBeCloseTo(poisoned.value! / Math.sqrt(200), 10);
    expect(poisoned.details!.pValue as number).toBeLessThan(1e-4);
    expect(poisoned.details!.tprAt1Fpr as number).toBeGreaterThan(0.01);
  });
});

describe('GUS on a model that never trained', () => {
  beforeAll(async () => {
    await createEngine({ backend: 'wasm' });
  });

  it.each([11, 12, 13, 14])('seed %i: |z| < 3 for an untrained MLP', async (seed) => {
    const ctx = { rng: createRng(seed), logger: silentLogger, engine: { backend: 'wasm' as const, reason: 'test', threads: 1 }, meter: undefined as never };
    const data = await mnistDataset.create({ trainSize: 2000, testSize: 100, splitSeed: 0, validationSize: 0 }, ctx).load();
    const factory = mlpModel.create({ hidden: [64] }, { inputShape: [28, 28, 1], numClasses: 10 }, ctx);
    const poison = await gaussianAttack.create({ count: 300, fraction: 0.05, sigma: 1 }, { ...ctx, rng: createRng(seed).fork('attack') }).poison({ data, models: factory, training: undefined as never });
    const model = factory.build(createRng(seed).fork('init'));
    try {
      const results = await gusMetric.create({ control: false, batchSize: 256 }, ctx).compute({
        model,
        role: 'retrained',
        data,
        clean: poison.clean,
        poisons: poison.poisons,
        artifacts: poison.artifacts,
        references: { poisoned: model, retrained: model },
        cost: { examples: 0, seconds: 0, retrainExamples: 0, retrainSeconds: 0 },
      });
      const [gus] = Array.isArray(results) ? results : [results];
      expect(Math.abs(gus.value)).toBeLessThan(3);
      expect(poison.artifacts).toBeInstanceOf(Artifacts);
      expect(poison.artifacts.get(GAUSSIAN_NOISE)!.count).toBe(300);
    } finally {
      model.dispose();
    }
  });
});
