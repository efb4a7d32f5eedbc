import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBudgetMeter, createRng, getOrCreateValidator, type Examples, type Logger, type PluginContext } from '@unlearn-bench/core';
import { afterAll, describe, expect, it } from 'vitest';
import { cifar100Dataset, type Cifar100Options } from './index.ts';

const DEFAULTS: Cifar100Options = { path: null, trainSize: null, testSize: null, validationSize: 0, splitSeed: 0, normalize: false, labels: 'fine' };
const root = mkdtempSync(join(tmpdir(), 'ub-cifar100-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const coarseOf = (g: number) => g % 20;
const fineOf = (g: number) => (g * 37 + 11) % 100;
/** Pixel byte of record `g` (test records from 30), channel c, row y, column x. */
const pixel = (g: number, c: number, y: number, x: number) => (g * 5 + c * 60 + y * 2 + x * 3) & 255;

/** One CIFAR-100 record: coarse label, fine label, then the R, G and B planes. */
function record(g: number): Buffer {
  const bytes = Buffer.alloc(3074);
  bytes[0] = coarseOf(g);
  bytes[1] = fineOf(g);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) bytes[2 + c * 1024 + y * 32 + x] = pixel(g, c, y, x);
  return bytes;
}

function writeFolder(dir: string, train: Buffer = Buffer.concat(Array.from({ length: 24 }, (_, g) => record(g)))): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train.bin'), train);
  writeFileSync(join(dir, 'test.bin'), Buffer.concat(Array.from({ length: 6 }, (_, r) => record(30 + r))));
  writeFileSync(join(dir, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `superclass${i}`).join('\n'));
  writeFileSync(join(dir, 'fine_label_names.txt'), Array.from({ length: 100 }, (_, i) => `class${i}`).join('\n'));
  return dir;
}

const folder = writeFolder(join(root, 'cifar-100-binary'));

function context(messages: string[] = []): PluginContext {
  const logger: Logger = { info: (m) => messages.push(m), warn: (m) => messages.push(`warn: ${m}`), debug: () => {}, progress: () => {} };
  return { rng: createRng(0), logger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
}

async function load(options: Partial<Cifar100Options>, ctx = context()) {
  return cifar100Dataset.create({ ...DEFAULTS, path: folder, ...options }, ctx).load();
}

/** Record number of each example (red pixel (0, 0) is 5g). */
const sources = (examples: Examples) => Array.from({ length: examples.count }, (_, i) => Math.round(examples.inputs[i * 3072] * 255) / 5);

describe('cifar100', () => {
  it('fills defaults from its schema', () => {
    const options = {};
    expect(getOrCreateValidator(cifar100Dataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(DEFAULTS);
  });

  it('reads fine labels (100 classes) or coarse ones (20), after the two label bytes', async () => {
    const messages: string[] = [];
    const fine = await load({ trainSize: 10, testSize: 3, splitSeed: 5 }, context(messages));
    const coarse = await load({ trainSize: 10, testSize: 3, splitSeed: 5, labels: 'coarse' }, context(messages));
    expect([fine.numClasses, coarse.numClasses, fine.name]).toEqual([100, 20, 'cifar100']);
    expect(sources(coarse.train)).toEqual(sources(fine.train));
    expect(Array.from(fine.train.labels)).toEqual(sources(fine.train).map(fineOf));
    expect(Array.from(coarse.train.labels)).toEqual(sources(coarse.train).map(coarseOf));
    expect(sources(fine.test).every((g) => g >= 30 && g < 36)).toBe(true);
    expect(Array.from(fine.test.labels)).toEqual(sources(fine.test).map(fineOf));
    const g = sources(fine.test)[1];
    const image = fine.test.inputs.subarray(3072, 6144);
    expect([image[0], image[1], image[2], image[(31 * 32 + 31) * 3 + 2]]).toEqual([pixel(g, 0, 0, 0), pixel(g, 1, 0, 0), pixel(g, 2, 0, 0), pixel(g, 2, 31, 31)].map((v) => Math.fround(v / 255)));
    expect(messages[0]).toBe(`classes ${Array.from({ length: 100 }, (_, i) => `class${i}`).join(', ')}`);
    expect(messages[1]).toBe(`classes ${Array.from({ length: 20 }, (_, i) => `superclass${i}`).join(', ')}`);
  });

  it('refuses CIFAR-10 records and out-of-range label bytes, naming the files and the download', async () => {
    const tail =
      'Expected the binary version of CIFAR-100: train.bin (50,000 records, 153,700,000 bytes), test.bin (10,000 records, 30,740,000 bytes), each a whole number of 3,074-byte records (2 label bytes (coarse, fine), then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32×32 image), and fine_label_names.txt (class names). Download "CIFAR-100 binary version (suitable for C programs)" from https://www.cs.toronto.edu/~kriz/cifar.html and extract it (tar xzf cifar-100-binary.tar.gz gives cifar-100-binary/).';
    const ten = writeFolder(join(root, 'ten'), Buffer.alloc(3073 * 3));
    await expect(load({ path: ten })).rejects.toThrow(
      `cifar100: ${join(ten, 'train.bin')} has 9,219 bytes, not a positive multiple of the 3,074-byte record (a truncated download, or a file of another dataset). ${tail}`,
    );
    const bad = record(3);
    bad[0] = 20;
    const coarse = writeFolder(join(root, 'coarse'), Buffer.concat([record(0), bad]));
    await expect(load({ path: coarse })).rejects.toThrow(`cifar100: record 2 of ${join(coarse, 'train.bin')} has coarse label 20, outside 0..19: the file is not CIFAR-100. ${tail}`);
  });
});
