import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runner, createRootContainer, expandSweep, silentLogger, validateManifest, type EngineInfo, type Experiment, type RunSummary } from '../src/index.ts';
import { fixturePlugin, fixtureReferences } from './fixture-plugin.ts';

const engine: EngineInfo = { backend: 'cpu', reason: 'test', threads: 1 };
const plugins = [fixturePlugin, fixtureReferences];
const dirs: string[] = [];

function manifest(overrides: Record<string, unknown> = {}) {
  return {
    name: 'fixture',
    seeds: [1, 2],
    dataset: { use: 'fx/blobs' },
    model: { use: 'fx/linear' },
    training: { epochs: 5, batchSize: 32, learningRate: 0.1 },
    attacks: [{ use: 'fx/flip' }],
    unlearners: [{ use: 'core/none' }, { use: 'fx/finetune' }],
    budgets: [0.1, 0.2],
    metrics: [{ use: 'fx/accuracy' }, { use: 'fx/poison-rate' }],
    ...overrides,
  };
}

async function run(value: object, outDir?: string): Promise<{ summary: RunSummary; outDir: string; experiment: Experiment }> {
  const root = createRootContainer({ plugins, engine, logger: silentLogger });
  const experiment = validateManifest(value, root.resolve<import('../src/index.ts').Registry>((await import('../src/tokens.ts')).REGISTRY));
  const dir = outDir ?? mkdtempSync(join(tmpdir(), 'ub-runner-'));
  dirs.push(dir);
  const summary = await root.resolve(Runner).run(experiment, { outDir: dir });
  return { summary, outDir: dir, experiment };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('Runner', () => {
  it('runs every cell: none and retrain per group plus unlearner × budget', async () => {
    const { summary, outDir } = await run(manifest({ attacks: [{ use: 'fx/flip', options: { count: 200 } }] }));
    expect(summary.cellsTotal).toBe(2 * (2 + 2));
    expect(summary.failures).toEqual([]);
    const lines = readFileSync(join(outDir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8 * 3);
    const poisoned = lines.filter((l) => l.unlearner === 'none' && l.metric === 'fx/poison-rate');
    const retrained = lines.filter((l) => l.unlearner === 'retrain' && l.metric === 'fx/poison-rate');
    // The poisoned model learned the flipped labels far more than the model that never saw them.
    for (let i = 0; i < 2; i++) expect(poisoned[i].value).toBeGreaterThan(retrained[i].value + 0.2);
    expect(lines.every((l) => typeof l.seed === 'number' && l.attack === 'fx/flip' && 'budget' in l && 'details' in l)).toBe(true);
    expect(lines.every((l) => l.attackExamples === 0 && l.attackSeconds >= 0 && l.backend === 'cpu' && l.manifestHash.length === 64)).toBe(true);
    const metrics = new Set(lines.map((l) => l.metric));
    expect([...metrics].sort()).toEqual(['fx/accuracy', 'fx/poison-rate', 'fx/poison-rate:clean']);
  });

  it('keeps unlearners within their budget: examples used ≤ budget × retraining examples', async () => {
    const { summary } = await run(manifest({ seeds: [3] }));
    const retrainExamples = summary.records.find((r) => r.unlearner === 'retrain')!.examples;
    expect(retrainExamples).toBe(5 * 360);
    for (const r of summary.records.filter((r) => r.role === 'unlearned')) {
      expect(r.examples).toBeLessThanOrEqual(r.budget! * retrainExamples);
      expect(r.examples).toBeGreaterThan(r.budget! * retrainExamples - 32);
      expect(r.budgetExamples).toBe(Math.floor(r.budget! * retrainExamples));
    }
  });

  it('gives identical numbers for the same manifest and seed', async () => {
    const a = await run(manifest({ seeds: [5] }));
    const b = await run(manifest({ seeds: [5] }));
    const values = (s: RunSummary) => s.records.map((r) => [r.cell, r.metric, r.value]);
    expect(values(b.summary)).toEqual(values(a.summary));
  });

  it('skips finished cells on rerun and recomputes nothing', async () => {
    const first = await run(manifest({ seeds: [1] }));
    const second = await run(manifest({ seeds: [1] }), first.outDir);
    expect(second.summary.cellsComputed).toBe(0);
    expect(second.summary.cellsSkipped).toBe(4);
    expect(second.summary.records).toEqual(first.summary.records);
    // Adding a seed computes only the new cells.
    const third = await run(manifest({ seeds: [1, 2] }), first.outDir);
    expect(third.summary.cellsComputed).toBe(4);
    expect(third.summary.cellsSkipped).toBe(4);
  });

  it('records a failing unlearner, finishes the other cells, and retries only the failed ones', async () => {
    const failing = manifest({ seeds: [1], unlearners: [{ use: 'fx/finetune', label: 'bad', options: { fail: true } }, { use: 'fx/finetune', label: 'good' }] });
    const { summary, outDir } = await run(failing);
    expect(summary.failures.map((f) => f.cell.split('#')[0])).toEqual([
      'seed=1/attack=fx/flip/unlearner=bad/budget=10%',
      'seed=1/attack=fx/flip/unlearner=bad/budget=20%',
    ]);
    expect(summary.failures[0].message).toBe('fx/finetune failed in unlearn: unlearner exploded');
    expect(summary.cellsComputed).toBe(4);
    const again = await run(failing, outDir);
    expect(again.summary.cellsSkipped).toBe(4);
    expect(again.summary.failures).toHaveLength(2);
  });

  it('fails a cell whose unlearner overspends its budget', async () => {
    const { summary } = await run(manifest({ seeds: [1], unlearners: [{ use: 'fx/finetune', options: { overspend: true } }] }));
    expect(summary.failures).toHaveLength(2);
    expect(summary.failures[0].message).toMatch(/fx\/finetune failed in unlearn: Budget exceeded: \d+ examples used, limit 180\./);
  });

  it('reports a failing attack on every cell of its group', async () => {
    const { summary } = await run(manifest({ seeds: [1], attacks: [{ use: 'fx/flip', options: { fail: true } }] }));
    expect(summary.failures).toHaveLength(4);
    expect(summary.failures[0].message).toBe('fx/flip failed in poison: boom');
  });

  it('leaks no tensors across a run', async () => {
    await run(manifest({ seeds: [9] })); // warm up kernels and caches
    const before = tf.memory().numTensors;
    await run(manifest({ seeds: [10] }));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('caches trained reference models in the output folder', async () => {
    const { outDir } = await run(manifest({ seeds: [1] }));
    expect(readdirSync(join(outDir, 'models')).sort()).toEqual([
      expect.stringMatching(/^seed=1_attack=fx_flip#[0-9a-f]{12}-poisoned\.weights$/),
      expect.stringMatching(/^seed=1_attack=fx_flip#[0-9a-f]{12}-retrained\.weights$/),
    ]);
  });
});

describe('hyper-parameter sweeps', () => {
  const registry = async () => createRootContainer({ plugins, engine, logger: silentLogger }).resolve<import('../src/index.ts').Registry>((await import('../src/tokens.ts')).REGISTRY);

  it('expands a grid to the Cartesian product in the order written, each variant a row labelled with its values', () => {
    const variants = expandSweep({ use: 'fx/finetune', options: { fail: false }, sweep: { scale: [1, 0.5], mutate: [false, true] } });
    expect(variants.map((v) => v.ref.label)).toEqual(['fx/finetune[scale=1,mutate=false]', 'fx/finetune[scale=1,mutate=true]', 'fx/finetune[scale=0.5,mutate=false]', 'fx/finetune[scale=0.5,mutate=true]']);
    expect(variants[2].ref.options).toEqual({ fail: false, scale: 0.5, mutate: false });
    expect(variants[2].variant).toEqual({ of: 'fx/finetune', values: { scale: 0.5, mutate: false } });
  });

  it('validates every variant like an entry and refuses sweeps of reference rows or too large grids', async () => {
    const reg = await registry();
    const experiment = validateManifest(manifest({ unlearners: [{ use: 'core/none' }, { use: 'fx/finetune', label: 'ft', sweep: { scale: [1, 2] } }] }), reg);
    expect(experiment.unlearners.map((u) => [u.label, u.options.scale, u.variant?.of])).toEqual([
      ['none', undefined, undefined],
      ['ft[scale=1]', 1, 'ft'],
      ['ft[scale=2]', 2, 'ft'],
    ]);
    const issues = (value: object) => {
      try {
        validateManifest(value, reg);
        return [];
      } catch (error) {
        return (error as { issues: { path: string; message: string }[] }).issues.map((i) => `${i.path}: ${i.message}`);
      }
    };
    expect(issues(manifest({ unlearners: [{ use: 'fx/finetune', sweep: { scale: ['big'] } }] }))[0]).toMatch(/^unlearners\[0\] \(sweep variant fx\/finetune\[scale=big\]\)\.options\.scale: expected number/);
    expect(issues(manifest({ unlearners: [{ use: 'fx/finetune', sweep: { lr: [0.1] } }] }))[0]).toMatch(/^unlearners\[0\] \(sweep variant fx\/finetune\[lr=0\.1\]\)\.options\.lr: unknown property 'lr'/);
    expect(issues(manifest({ unlearners: [{ use: 'core/none', sweep: { x: [1] } }] }))).toEqual(['unlearners[0].sweep: core/none is a reference row, not a method: it has nothing to sweep.']);
    const big = Array.from({ length: 15 }, (_, i) => i / 100);
    expect(issues(manifest({ unlearners: [{ use: 'fx/finetune', sweep: { scale: big, fail: [false], mutate: [false], nan: big } }] }))).toEqual([
      'unlearners[0].sweep: expands to 225 variants, more than 200. Sweep fewer values, or split the grid over several entries.',
    ]);
    expect(issues(manifest({ unlearners: [{ use: 'fx/finetune', sweep: {} }] }))[0]).toMatch(/^unlearners\/0\/sweep|unlearners\[0\]\.sweep/);
  });

  it('runs every variant at every budget, and a larger grid recomputes only the new variants', async () => {
    const two = manifest({ seeds: [1], unlearners: [{ use: 'fx/finetune', sweep: { scale: [1, 0.5] } }], budgets: [0.1] });
    const first = await run(two);
    expect(first.summary.cellsTotal).toBe(2 + 2);
    expect(first.summary.failures).toEqual([]);
    const three = manifest({ seeds: [1], unlearners: [{ use: 'fx/finetune', sweep: { scale: [1, 0.5, 0.25] } }], budgets: [0.1] });
    const second = await run(three, first.outDir);
    expect(second.summary.cellsSkipped).toBe(4);
    expect(second.summary.cellsComputed).toBe(1);
    const lines = readFileSync(join(first.outDir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unlearner: string });
    expect([...new Set(lines.map((l) => l.unlearner))].sort()).toEqual(['fx/finetune[scale=0.25]', 'fx/finetune[scale=0.5]', 'fx/finetune[scale=1]', 'none', 'retrain']);
  });
});
