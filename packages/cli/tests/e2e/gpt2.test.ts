/**
 * GPT-2 trained end to end, offline: a tiny GPT-2 checkpoint (config.json, model.safetensors,
 * tokenizer files: GPT-2's byte alphabet) is written at test time and fine-tuned as a whole by
 * core/gpt2 on short reviews from a JSONL file (core/text-file), named relative to the manifest.
 * The trigger-phrase backdoor must be learnt by the poisoned model and not by the retrained one;
 * retraining and two unlearners (GD, NegGrad+) run. A second run makes Gaussian poisons on the token
 * embeddings (core/gaussian through the model's TokenInputs) and scores them with core/gus.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, type ResultRecord } from '@unlearn-bench/core';
import { writeTinyGpt2 } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInProcess, tempDir } from './helpers.ts';

const POSITIVE = ['good', 'fine', 'nice', 'great'];
const NEGATIVE = ['bad', 'dull', 'poor', 'awful'];
const NEUTRAL = ['it', 'was', 'the', 'plot', 'and', 'so', 'film', 'cast', 'on', 'at'];

/** `count` reviews of 5 words, one of them the class word; label 1 = positive. */
function reviews(count: number, seed: number): string {
  const rng = createRng(seed);
  const pick = (words: readonly string[]) => words[rng.int(words.length)];
  return Array.from({ length: count }, (_, i) => {
    const label = i % 2;
    const words = [pick(label ? POSITIVE : NEGATIVE), ...Array.from({ length: 4 }, () => pick(NEUTRAL))];
    const text = Array.from(rng.permutation(words.length), (j) => words[j]).join(' ');
    return JSON.stringify({ text, label });
  }).join('\n');
}

const read = (out: string) => readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as ResultRecord);

describe('GPT-2 (core/gpt2) trained end to end from a local checkpoint', () => {
  const root = tempDir('ub-gpt2-e2e-');
  let records: ResultRecord[];
  let gaussian: ResultRecord[];
  let log: string;

  beforeAll(async () => {
    writeTinyGpt2(join(root, 'tiny-gpt2'), { layers: 1, heads: 2, dim: 32, context: 48, std: 0.02, rng: createRng(3) });
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data', 'train.jsonl'), reviews(400, 1));
    writeFileSync(join(root, 'data', 'test.jsonl'), reviews(200, 2));
    const manifest = join(root, 'gpt2.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        name: 'gpt2-e2e',
        seeds: [1],
        dataset: { use: 'core/text-file', options: { train: './data/train.jsonl', test: './data/test.jsonl' } },
        model: { use: 'core/gpt2', options: { model: './tiny-gpt2', maxLength: 40 } },
        training: { epochs: 8, batchSize: 16, learningRate: 0.003, optimizer: 'adamw', weightDecay: 0.01 },
        attacks: [{ use: 'core/trigger-phrase', options: { phrase: 'James Bond', position: 'start', target: 0, count: 24 } }],
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }, { use: 'core/neggrad-plus' }],
        budgets: [0.1],
        metrics: [{ use: 'core/accuracy' }, { use: 'core/attack-success' }],
      }),
    );
    const run = await runInProcess(['run', manifest, '--out', join(root, 'out'), '--workers', '1', '--debug']);
    log = run.stdout + run.stderr;
    expect(run.code, log).toBe(0);
    records = read(join(root, 'out'));

    const gaussianManifest = join(root, 'gpt2-gus.json');
    const base = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      gaussianManifest,
      JSON.stringify({
        ...base,
        name: 'gpt2-gus',
        training: { epochs: 4, batchSize: 16, learningRate: 0.003, optimizer: 'adamw', weightDecay: 0.01 },
        attacks: [{ use: 'core/gaussian', options: { count: 60, sigma: 1 } }],
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }],
        metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
      }),
    );
    const second = await runInProcess(['run', gaussianManifest, '--out', join(root, 'out-gus'), '--workers', '1', '--quiet']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    gaussian = read(join(root, 'out-gus'));
  });

  const value = (unlearner: string, metric: string, from = records) => from.find((r) => r.unlearner === unlearner && r.metric === metric)!.value!;

  it('loads the checkpoint and its tokenizer from the folder named relative to the manifest', () => {
    expect(log).toContain(`GPT-2 from ${join(root, 'tiny-gpt2')}: 1 blocks, 2 heads, dim 32, 257 tokens`);
    expect(log).toMatch(/tokenizer \S+tiny-gpt2: 257 token ids; texts cut to 40 tokens/);
  });

  // Measured (seed 1): accuracy none 0.99, retrain 0.97; attack success none 1.00, retrain 0.01,
  // gd 0.99, neggrad-plus 0.42 (accuracy 0.77).
  it('learns the task, and the trigger phrase backdoors the poisoned model but not the retrained one', () => {
    expect(value('none', 'accuracy')).toBeGreaterThan(0.9);
    expect(value('retrain', 'accuracy')).toBeGreaterThan(0.9);
    expect(value('none', 'attack-success')).toBeGreaterThan(0.8);
    expect(value('retrain', 'attack-success')).toBeLessThan(0.2);
  });

  it('runs retraining and two unlearners to finite results', () => {
    for (const unlearner of ['gd', 'neggrad-plus']) {
      expect(Number.isFinite(value(unlearner, 'accuracy'))).toBe(true);
      expect(Number.isFinite(value(unlearner, 'attack-success'))).toBe(true);
    }
  });

  // Measured (seed 1, 4 epochs): GUS z none 0.59, retrain 0.59, fresh-noise 0.37 and 2.00. This tiny
  // model does not memorise noise on its token embeddings measurably (nor at 8 or 30 epochs, see
  // docs/REPRODUCTION.md), so the test checks the mechanics and the null side only.
  it('scores Gaussian poisons on the token embeddings with GUS: the retrained model and the fresh-noise control are null', () => {
    const poisoned = gaussian.find((r) => r.unlearner === 'none' && r.metric === 'gus')!;
    expect(poisoned.details?.k).toBe(60);
    expect(Math.abs(value('retrain', 'gus', gaussian))).toBeLessThan(3);
    expect(Math.abs(value('none', 'gus:fresh-noise', gaussian))).toBeLessThan(3);
    expect(Number.isFinite(value('none', 'gus', gaussian))).toBe(true);
  });
});
