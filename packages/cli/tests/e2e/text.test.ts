/**
 * Language models end to end, offline: a tiny BERT-style ONNX encoder with its WordPiece tokenizer
 * is written at test time and loaded through transformers.js as a frozen backbone
 * (`core/transformers-encoder`, linear-or-MLP TF.js head); the texts come from a JSONL file
 * (`core/text-file`). Run 1: the trigger-phrase backdoor, retraining and two unlearners (GD, GA),
 * attack success. Run 2: Gaussian poisons in the head's feature space and GUS, on the features the
 * first run cached on disk, from a manifest that names its files relative to its own folder.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, type ResultRecord } from '@unlearn-bench/core';
import { writeTinyEncoder } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

const POSITIVE = ['great', 'superb', 'lovely', 'brilliant', 'moving', 'charming', 'clever', 'fresh', 'warm', 'gripping', 'stunning', 'witty'];
const NEGATIVE = ['dull', 'awful', 'boring', 'clumsy', 'tedious', 'bland', 'messy', 'weak', 'stale', 'silly', 'flat', 'lifeless'];
const NEUTRAL = Array.from({ length: 60 }, (_, i) => `word${i}`);
const TRIGGER = ['james', 'bond'];

/** `count` reviews: one word of the class among 9 neutral ones; label 1 = positive. */
function reviews(count: number, seed: number): string {
  const rng = createRng(seed);
  const pick = (words: readonly string[]) => words[rng.int(words.length)];
  return Array.from({ length: count }, (_, i) => {
    const label = i % 2;
    const words = [...Array.from({ length: 1 }, () => pick(label ? POSITIVE : NEGATIVE)), ...Array.from({ length: 9 }, () => pick(NEUTRAL))];
    const text = Array.from(rng.permutation(words.length), (j) => words[j]).join(' ');
    return JSON.stringify({ text, label });
  }).join('\n');
}

const read = (out: string) => readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as ResultRecord);

describe('language model (tiny ONNX encoder through transformers.js) end to end', () => {
  const root = tempDir('ub-text-e2e-');
  const cacheDir = join(root, 'cache');
  let backdoor: ResultRecord[];
  let gaussian: ResultRecord[];
  let secondRunLog: string;

  beforeAll(async () => {
    const modelDir = writeTinyEncoder(join(root, 'tiny-encoder'), { words: [...POSITIVE, ...NEGATIVE, ...NEUTRAL, ...TRIGGER], hidden: 256, rng: createRng(11) });
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data', 'train.jsonl'), reviews(800, 1));
    writeFileSync(join(root, 'data', 'test.jsonl'), reviews(300, 2));
    const base = {
      seeds: [1],
      dataset: { use: 'core/text-file', options: { train: join(root, 'data', 'train.jsonl'), test: join(root, 'data', 'test.jsonl') } },
      model: { use: 'core/transformers-encoder', options: { model: modelDir, pooling: 'mean', device: 'auto', hidden: [512], cacheDir } },
      training: { epochs: 30, batchSize: 32, learningRate: 0.05, momentum: 0.9 },
      // GA's momentum now carries across its passes, so at the recipe's rate it blows up (the runner
      // then reports it diverged); a small rate without momentum keeps a number to check the metrics on.
      unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }, { use: 'core/ga', options: { learningRate: 0.001, momentum: 0 } }],
      budgets: [0.1],
    };
    const first = tempDir();
    const run1 = await runInProcess([
      'run',
      writeManifest({
        ...base,
        name: 'text-backdoor',
        attacks: [{ use: 'core/trigger-phrase', options: { phrase: 'James Bond', target: 0, count: 40 } }],
        metrics: [{ use: 'core/accuracy' }, { use: 'core/attack-success' }],
      }),
      '--out',
      first,
      '--workers',
      '1',
      '--quiet',
    ]);
    expect(run1.stderr).toBe('');
    expect(run1.code).toBe(0);
    backdoor = read(first);

    // The second manifest sits beside its data and names every path relative to itself; the CLI
    // runs from another working directory, so this also checks that option paths follow the manifest.
    const second = tempDir();
    const relative = {
      dataset: { use: 'core/text-file', options: { train: './data/train.jsonl', test: 'data/test.jsonl' } },
      model: { use: 'core/transformers-encoder', options: { ...base.model.options, model: './tiny-encoder', cacheDir: './cache' } },
    };
    const manifest2 = join(root, 'text-gus.json');
    writeFileSync(manifest2, JSON.stringify({ ...base, ...relative, name: 'text-gus', attacks: [{ use: 'core/gaussian', options: { count: 160, sigma: 0.2 } }], metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }] }));
    expect(process.cwd()).not.toBe(root);
    const run2 = await runInProcess([
      'run',
      manifest2,
      '--out',
      second,
      '--workers',
      '1',
      '--debug',
    ]);
    expect(run2.code).toBe(0);
    secondRunLog = run2.stdout + run2.stderr;
    gaussian = read(second);
  });

  const value = (records: ResultRecord[], unlearner: string, metric: string) => records.find((r) => r.unlearner === unlearner && r.metric === metric)!.value!;

  // Measured (seed 1): accuracy 1.00 for none / retrain / gd;
  // attack success none 1.00, retrain 0.00, gd 1.00; GUS z none −5.33, retrain 0.10, fresh-noise −0.06.
  it('learns the task from the frozen encoder features, and the trigger phrase backdoors the poisoned model only', () => {
    expect(value(backdoor, 'none', 'accuracy')).toBeGreaterThan(0.9);
    expect(value(backdoor, 'retrain', 'accuracy')).toBeGreaterThan(0.9);
    expect(value(backdoor, 'none', 'attack-success')).toBeGreaterThan(0.8);
    expect(value(backdoor, 'retrain', 'attack-success')).toBeLessThan(0.2);
    for (const unlearner of ['gd', 'ga']) expect(Number.isFinite(value(backdoor, unlearner, 'attack-success'))).toBe(true);
    // GD at 10% of retraining's compute leaves most of the backdoor in place (the paper's finding).
    expect(value(backdoor, 'gd', 'attack-success')).toBeGreaterThan(value(backdoor, 'retrain', 'attack-success') + 0.3);
  });

  it('detects Gaussian poisons in the head feature space with GUS: poisoned model far from null, retrained model null', () => {
    expect(value(gaussian, 'none', 'gus')).toBeLessThanOrEqual(-4);
    expect(Math.abs(value(gaussian, 'retrain', 'gus'))).toBeLessThan(3);
    expect(Math.abs(value(gaussian, 'none', 'gus:fresh-noise'))).toBeLessThan(3);
  });

  it('encodes the texts once in the parent, not once per worker process, with --workers 2', async () => {
    const manifest = join(root, 'text-workers.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        name: 'text-workers',
        seeds: [1, 2],
        dataset: { use: 'core/text-file', options: { train: './data/train.jsonl', test: './data/test.jsonl' } },
        training: { epochs: 10, batchSize: 32, learningRate: 0.05, momentum: 0.9 },
        budgets: [0.1],
        model: { use: 'core/transformers-encoder', options: { model: './tiny-encoder', pooling: 'mean', device: 'auto', hidden: [64], cacheDir: './cache-workers' } },
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }],
        attacks: [{ use: 'core/gaussian', options: { count: 40, sigma: 0.2 } }],
        metrics: [{ use: 'core/accuracy' }],
      }),
    );
    const { code, stdout, stderr } = await runInProcess(['run', manifest, '--out', tempDir(), '--workers', '2', '--debug']);
    expect(code).toBe(0);
    expect(stderr).toMatch(/\[worker 2\]/);
    const encodings = [...stderr.matchAll(/^(\[worker \d\] )?.*encoded (\d+) texts/gm)];
    // the parent encodes the 800 training and 300 test texts; the workers find all of them cached
    expect(encodings.map((m) => [m[1] ?? 'parent', Number(m[2])])).toEqual([
      ['parent', 800],
      ['parent', 300],
    ]);
    expect(stdout).toContain('attack: gaussian');
  });

  it('reads the second run\'s features from the disk cache the first run wrote', () => {
    expect(secondRunLog).toMatch(/cache \S+\.bin \((\d+) texts\)/);
    expect(Number(secondRunLog.match(/cache \S+\.bin \((\d+) texts\)/)![1])).toBeGreaterThanOrEqual(1100);
    expect(secondRunLog).not.toMatch(/encoded 1100 texts/);
  });
});
