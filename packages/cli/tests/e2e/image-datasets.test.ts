/**
 * Image datasets from local files end to end: a small CIFAR-10 folder written in the exact binary
 * format (each class a noisy flat colour, so a small CNN learns it in a few epochs) runs a Gaussian
 * poisoning manifest with retraining and gradient descent; an ImageFolder of PNGs runs twice from a
 * manifest that names its folders relative to itself, and the second run decodes no image.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, type ResultRecord } from '@unlearn-bench/core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJsonl, runInProcess, tempDir } from './helpers.ts';

/** Per-class colour of the generated images (class c: its own mix of red, green and blue). */
const colour = (label: number, channel: number) => [30 + 22 * label, 230 - 20 * label, (label * 97) % 256][channel];

/** `count` CIFAR-10 records (label byte, then R, G, B planes of 32×32) of the flat class colours plus noise. */
function cifarRecords(count: number, rng: ReturnType<typeof createRng>): Buffer {
  const out = Buffer.alloc(count * 3073);
  for (let r = 0; r < count; r++) {
    const label = r % 10;
    out[r * 3073] = label;
    for (let c = 0; c < 3; c++) {
      for (let k = 0; k < 1024; k++) out[r * 3073 + 1 + c * 1024 + k] = Math.max(0, Math.min(255, Math.round(colour(label, c) + 10 * rng.normal())));
    }
  }
  return out;
}

const value = (records: ResultRecord[], unlearner: string, metric: string) => records.find((r) => r.unlearner === unlearner && r.metric === metric)!.value!;

describe('image datasets (core/cifar10, core/image-folder) end to end', () => {
  const root = tempDir('ub-images-e2e-');
  let cifar: ResultRecord[];
  let cifarLog: string;

  beforeAll(async () => {
    const rng = createRng(5);
    const folder = join(root, 'cifar-10-batches-bin');
    mkdirSync(folder);
    for (let b = 1; b <= 5; b++) writeFileSync(join(folder, `data_batch_${b}.bin`), cifarRecords(80, rng));
    writeFileSync(join(folder, 'test_batch.bin'), cifarRecords(100, rng));
    writeFileSync(join(folder, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
    const manifest = join(root, 'cifar.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        name: 'cifar-e2e',
        seeds: [1],
        // The folder that holds cifar-10-batches-bin/, relative to this manifest.
        dataset: { use: 'core/cifar10', options: { path: '.', trainSize: 360, testSize: 100, validationSize: 20 } },
        model: { use: 'core/cnn-small', options: { width: 8, dense: 32 } },
        // lr 0.02 was unstable here (loss jumping between epochs), so the final accuracy depended on
        // float rounding: 0.6 with the native kernels, 0.57 on wasm 2 threads, 1.0 on 1 thread.
        // At 0.005 every engine configuration gives 1.0.
        training: { epochs: 10, batchSize: 16, learningRate: 0.005, momentum: 0.9 },
        attacks: [{ use: 'core/gaussian', options: { count: 8, sigma: 1 } }],
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }],
        budgets: [0.1],
        metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
      }),
    );
    const out = tempDir();
    const run = await runInProcess(['run', manifest, '--out', out, '--workers', '1']);
    cifarLog = run.stderr;
    expect(run.code, run.stderr).toBe(0);
    cifar = readJsonl<ResultRecord>(join(out, 'results.jsonl'));
  });

  // Measured (seed 1): accuracy 1.00 for none, retrain and gd on native and wasm kernels
  // (8 poisons only: the run checks that GUS works on CIFAR tensors, not the size of the effect).
  it('trains a CNN on the CIFAR-10 binary files well above chance and runs the unlearners and metrics on it', () => {
    expect(cifarLog).toContain('dataset core/cifar10: 360 train / 100 test examples of shape [32, 32, 3], 10 classes');
    expect(cifarLog).toContain('classes airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck');
    // Chance is 0.1; the class colours are far apart compared with the noise.
    for (const unlearner of ['none', 'retrain', 'gd']) expect(value(cifar, unlearner, 'accuracy')).toBeGreaterThan(0.8);
    expect(Number.isFinite(value(cifar, 'none', 'accuracy:validation'))).toBe(true);
    for (const unlearner of ['none', 'retrain', 'gd']) expect(Number.isFinite(value(cifar, unlearner, 'gus'))).toBe(true);
  });

  it('trains with the recipe\'s augmentation (crop 4, flip) from the manifest: other cells, still well above chance', async () => {
    const manifest = JSON.parse(readFileSync(join(root, 'cifar.json'), 'utf8')) as { training: object; unlearners: object[] };
    const augmented = join(root, 'cifar-augmented.json');
    writeFileSync(augmented, JSON.stringify({ ...manifest, training: { ...manifest.training, augment: { crop: 4, flip: true } }, unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }] }));
    const out = tempDir();
    const run = await runInProcess(['run', augmented, '--out', out, '--workers', '1', '--quiet', '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    const records = readJsonl<ResultRecord>(join(out, 'results.jsonl'));
    for (const unlearner of ['none', 'retrain']) expect(value(records, unlearner, 'accuracy')).toBeGreaterThan(0.8);
    // Another recipe, so other cells and other models than the plain run's.
    const plainCells = new Set(cifar.map((r) => r.cell));
    for (const r of records) expect(plainCells.has(r.cell)).toBe(false);
    // Same seed and data: only the augmentation can make the poisoned model's GUS differ.
    expect(value(records, 'none', 'gus')).not.toBe(value(cifar, 'none', 'gus'));
  });

  it('runs a residual network with batch norm (core/resnet) on the same files: retrain, GD, EU-k, GUS', async () => {
    const manifest = JSON.parse(readFileSync(join(root, 'cifar.json'), 'utf8')) as object;
    const resnet = join(root, 'cifar-resnet.json');
    writeFileSync(
      resnet,
      JSON.stringify({
        ...manifest,
        name: 'cifar-resnet-e2e',
        // At width 4 and lr 0.01 the test accuracy jumped between 0.4 and 1.0 from one epoch to the
        // next (so the result hung on float rounding: 0.5 with the native kernels); width 8 at lr
        // 0.001 reaches 0.9-1.0 by epoch 2 on seeds 1-3 and stays there, on native and wasm kernels.
        model: { use: 'core/resnet', options: { variant: 'resnet-9', width: 8 } },
        training: { epochs: 4, batchSize: 16, learningRate: 0.001, momentum: 0.9, weightDecay: 5e-4 },
        // EU-k with k = 2 re-initialises res3 and fc: batch-norm statistics are reset with the layer.
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }, { use: 'core/eu-k', options: { k: 2 } }],
        metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }, { use: 'core/param-distance' }],
      }),
    );
    const out = tempDir();
    const run = await runInProcess(['run', resnet, '--out', out, '--workers', '1', '--quiet', '--no-report']);
    expect(run.code, run.stderr).toBe(0);
    const records = readJsonl<ResultRecord>(join(out, 'results.jsonl'));
    // Evaluation mode (running statistics) well above chance (0.1) for the trained models.
    // Measured: 1.0 for all three on native kernels; 1.0, 1.0, 0.91 on wasm.
    for (const unlearner of ['none', 'retrain', 'gd']) expect(value(records, unlearner, 'accuracy')).toBeGreaterThan(0.7);
    for (const unlearner of ['none', 'retrain', 'gd', 'eu-k']) expect(Number.isFinite(value(records, unlearner, 'gus'))).toBe(true);
    expect(value(records, 'retrain', 'param-distance')).toBe(0);
    expect(value(records, 'none', 'param-distance')).toBeGreaterThan(0);
  });

  it('runs an ImageFolder of PNGs and decodes it once: a second run reads the cache', async () => {
    const rng = createRng(6);
    for (const [label, name] of ['reds', 'blues'].entries()) {
      mkdirSync(join(root, 'pictures', name), { recursive: true });
      for (let k = 0; k < 30; k++) {
        const raw = Buffer.from(Array.from({ length: 12 * 10 * 3 }, (_, i) => Math.max(0, Math.min(255, Math.round((i % 3 === 2 * label ? 200 : 40) + 30 * rng.normal())))));
        await sharp(raw, { raw: { width: 12, height: 10, channels: 3 } }).png().toFile(join(root, 'pictures', name, `${k}.png`));
      }
    }
    const manifest = join(root, 'pictures.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        name: 'pictures-e2e',
        seeds: [1],
        dataset: { use: 'core/image-folder', options: { path: 'pictures', size: [8, 8], testFraction: 0.25, cacheDir: 'image-cache' } },
        model: { use: 'core/mlp', options: { hidden: [16] } },
        training: { epochs: 5, batchSize: 16, learningRate: 0.05, momentum: 0.9 },
        attacks: [{ use: 'core/gaussian', options: { count: 3, sigma: 1 } }],
        unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }],
        budgets: [0.1],
        metrics: [{ use: 'core/accuracy' }],
      }),
    );
    const first = await runInProcess(['run', manifest, '--out', tempDir(), '--workers', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('2 classes (blues, reds), 60 images (split by testFraction 0.25) as 8×8×3: 60 decoded');
    const out = tempDir();
    const second = await runInProcess(['run', manifest, '--out', out, '--workers', '1']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/60 images \(split by testFraction 0\.25\) as 8×8×3: 0 decoded, \d+ from the memory cache, \d+ from the disk cache/);
    expect(value(readJsonl<ResultRecord>(join(out, 'results.jsonl')), 'none', 'accuracy')).toBeGreaterThan(0.9);
  });
});
