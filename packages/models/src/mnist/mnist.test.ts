import { createBudgetMeter, createRng, getOrCreateValidator, silentLogger, type Examples, type PluginContext } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mnistDataset, parseDigitFile, type MnistOptions } from './index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const DEFAULTS: MnistOptions = { trainSize: 8000, testSize: 2000, splitSeed: 0, validationSize: 0 };
/** Digits per class in the mnist package. */
const CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function load(options: Partial<MnistOptions> = {}) {
  return mnistDataset.create({ ...DEFAULTS, ...options }, ctx).load();
}

function imageKeys(examples: Examples): string[] {
  return Array.from({ length: examples.count }, (_, i) => examples.inputs.subarray(i * 784, (i + 1) * 784).join(','));
}

/** Bitwise equality, fast on millions of values (toEqual takes tens of seconds here). */
function identical(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function classCounts(examples: Examples): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of examples.labels) counts[label]++;
  return counts;
}

describe('mnist', () => {
  it('reads every digit file to the same float32 bits as JSON.parse, and refuses what is not an unsigned decimal', () => {
    const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
    for (let label = 0; label < 10; label++) {
      const file = join(root, 'src', 'digits', `${label}.json`);
      const expected = Float32Array.from((JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data);
      const actual = parseDigitFile(readFileSync(file), file);
      expect(actual.length).toBe(CLASS_COUNTS[label] * 784);
      expect(identical(actual, expected)).toBe(true);
    }
    const text = (s: string) => new TextEncoder().encode(s);
    // Decimals whose float32 rounding is delicate, against JSON.parse.
    const tricky = '[0.1,0.7,0.999,1,12.5,0.0039215686,3.14159265358979,0.3, 7]';
    expect(identical(parseDigitFile(text(tricky), 't'), Float32Array.from(JSON.parse(tricky) as number[]))).toBe(true);
    expect(() => parseDigitFile(text('{ "data": [0,-0.5] }'), 'x.json')).toThrow(/x\.json: unexpected '-'/);
    expect(() => parseDigitFile(text('{ "data": [1e-3] }'), 'x.json')).toThrow(/unexpected 'e'/);
    expect(() => parseDigitFile(text('{ "data": [0.] }'), 'x.json')).toThrow(/decimal point without digits/);
    expect(() => parseDigitFile(text('{ "data": [0.1234567890123456] }'), 'x.json')).toThrow(/more than 15 digits/);
    expect(() => parseDigitFile(text('{ "data": 3 }'), 'x.json')).toThrow(/expected/);
  });

  it('fills defaults from its schema', () => {
    const options = {};
    expect(getOrCreateValidator(mnistDataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(DEFAULTS);
  });

  it('adds a validation split disjoint from train and test without changing them, and refuses more digits than it has', async () => {
    const plain = await load({ trainSize: 6000, testSize: 2000 });
    const withValidation = await load({ trainSize: 6000, testSize: 2000, validationSize: 1500 });
    expect(plain.validation).toBeUndefined();
    expect(withValidation.validation!.count).toBe(1500);
    expect(identical(withValidation.train.inputs, plain.train.inputs)).toBe(true);
    expect(identical(withValidation.test.inputs, plain.test.inputs)).toBe(true);
    const seen = new Set([...imageKeys(plain.train), ...imageKeys(plain.test)]);
    expect(imageKeys(withValidation.validation!).filter((key) => seen.has(key))).toEqual([]);
    expect(() => mnistDataset.create({ ...DEFAULTS, validationSize: 1 }, ctx)).toThrow('trainSize + testSize + validationSize = 10001 exceeds it');
  });

  it('splits the 10,000 digits 8000/2000 into disjoint sets of 28×28×1 images in [0, 1]', async () => {
    const data = await load();
    expect(data.name).toBe('mnist');
    expect(data.numClasses).toBe(10);
    expect([data.train.count, data.test.count]).toEqual([8000, 2000]);
    expect(data.train.inputShape).toEqual([28, 28, 1]);
    expect(data.test.inputShape).toEqual([28, 28, 1]);
    for (const part of [data.train, data.test]) {
      const values = part.inputs;
      expect(values.length).toBe(part.count * 784);
      expect(values.reduce((m, v) => Math.min(m, v), 1)).toBe(0);
      expect(values.reduce((m, v) => Math.max(m, v), 0)).toBe(1);
      // Real digits: about a fifth of the pixels are ink.
      const ink = values.reduce((n, v) => n + (v > 0.5 ? 1 : 0), 0) / values.length;
      expect(ink).toBeGreaterThan(0.08);
      expect(ink).toBeLessThan(0.2);
      expect(classCounts(part).every((n) => n > 0.07 * part.count)).toBe(true);
    }
    const trainKeys = new Set(imageKeys(data.train));
    expect(trainKeys.size).toBe(8000);
    expect(imageKeys(data.test).filter((key) => trainKeys.has(key))).toEqual([]);
    // Together the two parts are exactly the package's digits.
    const together = classCounts(data.train).map((n, label) => n + classCounts(data.test)[label]);
    expect(together).toEqual(CLASS_COUNTS);
  });

  it('draws the split from splitSeed only, in shuffled order', async () => {
    const [a, b, c] = await Promise.all([load(), load(), load({ splitSeed: 1 })]);
    expect(b.train.labels).toEqual(a.train.labels);
    expect(identical(b.train.inputs, a.train.inputs)).toBe(true);
    expect(identical(b.test.inputs, a.test.inputs)).toBe(true);
    expect(identical(c.train.inputs, a.train.inputs)).toBe(false);
    expect(c.train.labels).not.toEqual(a.train.labels);
    // Shuffled, not grouped by class: the first 100 training digits cover every class.
    expect(new Set(a.train.labels.subarray(0, 100)).size).toBe(10);
  });

  it('returns copies, so a caller cannot change the cached digits', async () => {
    const first = await load();
    const expected = first.train.inputs[300];
    first.train.inputs.fill(-1);
    expect((await load()).train.inputs[300]).toBe(expected);
  });

  it('takes smaller sizes and rejects more digits than it has', async () => {
    const data = await load({ trainSize: 1000, testSize: 500 });
    expect([data.train.count, data.test.count]).toEqual([1000, 500]);
    expect(data.train.labels).toEqual((await load()).train.labels.subarray(0, 1000));
    expect(() => mnistDataset.create({ ...DEFAULTS, trainSize: 9000 }, ctx)).toThrowErrorMatchingInlineSnapshot(
      `[RangeError: mnist has 10000 digits; trainSize + testSize + validationSize = 11000 exceeds it; lower one of them]`,
    );
  });
});
