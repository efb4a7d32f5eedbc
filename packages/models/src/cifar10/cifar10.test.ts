import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBudgetMeter, createRng, getOrCreateValidator, type Examples, type Logger, type PluginContext } from '@unlearn-bench/core';
import { afterAll, describe, expect, it } from 'vitest';
import { cifar10Dataset, type Cifar10Options } from './index.ts';

const DEFAULTS: Cifar10Options = { path: null, trainSize: null, testSize: null, validationSize: 0, splitSeed: 0, normalize: false };
const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const PER_BATCH = 3;
const TEST_RECORDS = 4;
const root = mkdtempSync(join(tmpdir(), 'ub-cifar10-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Pixel byte of record `g` (numbered over all files, test records from 20), channel c, row y, column x. */
const pixel = (g: number, c: number, y: number, x: number) => (g * 7 + c * 50 + y * 3 + x * 5) & 255;
const labelOf = (g: number) => (g * 3 + 1) % 10;

/** One CIFAR-10 record: the label byte, then the R, G and B planes (32×32 row-major each). */
function record(g: number): Buffer {
  const bytes = Buffer.alloc(3073);
  bytes[0] = labelOf(g);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) bytes[1 + c * 1024 + y * 32 + x] = pixel(g, c, y, x);
  return bytes;
}

/** A folder in the layout of cifar-10-batches-bin with 5 × PER_BATCH training and TEST_RECORDS test records. */
function writeFolder(dir: string, change: (file: string, bytes: Buffer) => Buffer = (_, b) => b): string {
  mkdirSync(dir, { recursive: true });
  for (let b = 0; b < 5; b++) {
    const file = `data_batch_${b + 1}.bin`;
    writeFileSync(join(dir, file), change(file, Buffer.concat(Array.from({ length: PER_BATCH }, (_, r) => record(b * PER_BATCH + r)))));
  }
  writeFileSync(join(dir, 'test_batch.bin'), change('test_batch.bin', Buffer.concat(Array.from({ length: TEST_RECORDS }, (_, r) => record(20 + r)))));
  writeFileSync(join(dir, 'batches.meta.txt'), `${NAMES.join('\n')}\n\n`);
  return dir;
}

const folder = writeFolder(join(root, 'cifar-10-batches-bin'));

function context(messages: string[] = []): PluginContext {
  const logger: Logger = { info: (m) => messages.push(m), warn: (m) => messages.push(`warn: ${m}`), debug: () => {}, progress: () => {} };
  return { rng: createRng(0), logger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
}

async function load(options: Partial<Cifar10Options>, ctx = context()) {
  return cifar10Dataset.create({ ...DEFAULTS, path: folder, ...options }, ctx).load();
}

/** The record number each example was decoded from (its red pixel at (0, 0) is 7g mod 256). */
function sources(examples: Examples): number[] {
  return Array.from({ length: examples.count }, (_, i) => Math.round(examples.inputs[i * 3072] * 255) / 7);
}

/** Error messages with the temporary folder written as <root>. */
async function message(options: Partial<Cifar10Options>): Promise<string> {
  try {
    await load(options);
  } catch (error) {
    return (error as Error).message.replaceAll(root, '<root>');
  }
  throw new Error('expected the load to fail');
}

describe('cifar10', () => {
  it('fills defaults from its schema and needs a path', () => {
    const options = {};
    expect(getOrCreateValidator(cifar10Dataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(DEFAULTS);
    expect(() => cifar10Dataset.create(DEFAULTS, context()).load()).toThrowErrorMatchingInlineSnapshot(
      `[Error: cifar10 needs options.path: the folder of the CIFAR-10 binary version (cifar-10-batches-bin/). Download it from https://www.cs.toronto.edu/~kriz/cifar.html.]`,
    );
  });

  it('decodes a record to the NHWC tensor of its R, G and B planes, with its label and the class names', async () => {
    const messages: string[] = [];
    const data = await load({}, context(messages));
    expect(data.name).toBe('cifar10');
    expect(data.numClasses).toBe(10);
    expect(data.train.inputShape).toEqual([32, 32, 3]);
    expect([data.train.count, data.test.count, data.validation]).toEqual([15, 4, undefined]);
    expect(messages).toEqual([`classes ${NAMES.join(', ')}`]);
    for (const [part, offset] of [[data.train, 0], [data.test, 20]] as const) {
      const from = sources(part);
      expect([...from].sort((a, b) => a - b)).toEqual(Array.from({ length: part.count }, (_, i) => offset + i));
      from.forEach((g, i) => {
        expect(part.labels[i]).toBe(labelOf(g));
        const image = part.inputs.subarray(i * 3072, (i + 1) * 3072);
        const expected = new Float32Array(3072);
        for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) expected[(y * 32 + x) * 3 + c] = pixel(g, c, y, x) / 255;
        expect(image).toEqual(expected);
      });
    }
    // Spot check of the layout by hand: record 4's pixel at row 2, column 1, green = (28 + 50 + 6 + 5) / 255.
    const i = sources(data.train).indexOf(4);
    expect(data.train.inputs[i * 3072 + (2 * 32 + 1) * 3 + 1]).toBe(Math.fround(89 / 255));
  });

  it('takes seeded subsets: the same for the same seed, disjoint from validation, unchanged by it', async () => {
    const a = await load({ trainSize: 6, testSize: 2, splitSeed: 3 });
    const again = await load({ trainSize: 6, testSize: 2, splitSeed: 3 });
    const other = await load({ trainSize: 6, testSize: 2, splitSeed: 4 });
    expect(sources(again.train)).toEqual(sources(a.train));
    expect(sources(again.test)).toEqual(sources(a.test));
    expect(sources(other.train)).not.toEqual(sources(a.train));
    expect(a.train.count).toBe(6);
    const withValidation = await load({ trainSize: 6, testSize: 2, splitSeed: 3, validationSize: 5 });
    expect(sources(withValidation.train)).toEqual(sources(a.train));
    expect(sources(withValidation.test)).toEqual(sources(a.test));
    expect(withValidation.validation!.count).toBe(5);
    expect(sources(withValidation.validation!).filter((g) => sources(a.train).includes(g))).toEqual([]);
    // Without trainSize, training takes everything the validation set leaves.
    const rest = await load({ validationSize: 5 });
    expect([...sources(rest.train), ...sources(rest.validation!)].sort((x, y) => x - y)).toEqual(Array.from({ length: 15 }, (_, g) => g));
    await expect(load({ trainSize: 12, validationSize: 4 })).rejects.toThrow(`cifar10: the training part in ${folder} has 15 records; trainSize 12 + validationSize 4 does not fit; lower one of them`);
    await expect(load({ testSize: 5 })).rejects.toThrow(`cifar10: the test part in ${folder} has 4 records; testSize 5 exceeds it`);
  });

  it('standardises each channel by the training part’s mean and standard deviation when asked', async () => {
    const messages: string[] = [];
    const plain = await load({});
    const data = await load({ normalize: true }, context(messages));
    for (let c = 0; c < 3; c++) {
      const channel = (values: Float32Array) => Array.from({ length: values.length / 3 }, (_, k) => values[k * 3 + c]);
      const raw = channel(plain.train.inputs);
      const mean = raw.reduce((s, v) => s + v, 0) / raw.length;
      const std = Math.sqrt(raw.reduce((s, v) => s + (v - mean) ** 2, 0) / raw.length);
      const standard = channel(data.train.inputs);
      expect(standard.reduce((s, v) => s + v, 0) / standard.length).toBeCloseTo(0, 5);
      expect(Math.sqrt(standard.reduce((s, v) => s + v * v, 0) / standard.length)).toBeCloseTo(1, 5);
      expect(data.test.inputs[c]).toBeCloseTo((plain.test.inputs[c] - mean) / std, 5);
    }
    expect(messages[0]).toMatch(/^standardised by the training part's channel means \[0\.\d{4}, 0\.\d{4}, 0\.\d{4}\] and standard deviations \[0\.\d{4}, 0\.\d{4}, 0\.\d{4}\]$/);
  });

  it('finds the extracted folder inside path, and warns without class names', async () => {
    const data = await load({ path: root });
    expect(data.train.count).toBe(15);
    const bare = writeFolder(join(root, 'bare'));
    rmSync(join(bare, 'batches.meta.txt'));
    const messages: string[] = [];
    expect((await load({ path: bare }, context(messages))).test.count).toBe(4);
    expect(messages).toEqual([`warn: ${join(bare, 'batches.meta.txt')} is missing; classes are known by number only`]);
  });

  it('refuses a missing or malformed folder, naming the files, their sizes and where to download them', async () => {
    const tail =
      'Expected the binary version of CIFAR-10: data_batch_1.bin (10,000 records, 30,730,000 bytes), data_batch_2.bin (10,000 records, 30,730,000 bytes), data_batch_3.bin (10,000 records, 30,730,000 bytes), data_batch_4.bin (10,000 records, 30,730,000 bytes), data_batch_5.bin (10,000 records, 30,730,000 bytes), test_batch.bin (10,000 records, 30,730,000 bytes), each a whole number of 3,073-byte records (1 label byte, then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32×32 image), and batches.meta.txt (class names). Download "CIFAR-10 binary version (suitable for C programs)" from https://www.cs.toronto.edu/~kriz/cifar.html and extract it (tar xzf cifar-10-binary.tar.gz gives cifar-10-batches-bin/).';
    expect(await message({ path: join(root, 'nowhere') })).toBe(`cifar10: <root>/nowhere does not exist. ${tail}`);

    const python = join(root, 'cifar-10-batches-py');
    mkdirSync(python);
    for (const f of ['data_batch_1', 'batches.meta', 'test_batch']) writeFileSync(join(python, f), 'pickle');
    expect(await message({ path: python })).toBe(`cifar10: <root>/cifar-10-batches-py has no data_batch_1.bin. It holds data_batch_1, batches.meta: that is the pickled "python version", which this reader does not read. ${tail}`);

    const partial = writeFolder(join(root, 'partial'));
    rmSync(join(partial, 'data_batch_4.bin'));
    rmSync(join(partial, 'test_batch.bin'));
    expect(await message({ path: partial })).toBe(`cifar10: <root>/partial lacks data_batch_4.bin, test_batch.bin. ${tail}`);

    const truncated = writeFolder(join(root, 'truncated'), (file, bytes) => (file === 'data_batch_2.bin' ? bytes.subarray(0, 5000) : bytes));
    expect(await message({ path: truncated })).toBe(
      `cifar10: <root>/truncated/data_batch_2.bin has 5,000 bytes, not a positive multiple of the 3,073-byte record (a truncated download, or a file of another dataset). ${tail}`,
    );

    const wrongLabel = writeFolder(join(root, 'wrong-label'), (file, bytes) => {
      if (file === 'test_batch.bin') bytes[3073 * 2] = 57;
      return bytes;
    });
    expect(await message({ path: wrongLabel })).toBe(`cifar10: record 3 of <root>/wrong-label/test_batch.bin has label 57, outside 0..9: the file is not CIFAR-10. ${tail}`);

    const names = writeFolder(join(root, 'names'));
    writeFileSync(join(names, 'batches.meta.txt'), 'cat\ndog\n');
    expect(await message({ path: names })).toBe(`cifar10: <root>/names/batches.meta.txt lists 2 class names, not 10. ${tail}`);
  });
});
