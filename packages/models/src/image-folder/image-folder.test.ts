import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBudgetMeter, createRng, getOrCreateValidator, type Examples, type Logger, type PluginContext } from '@unlearn-bench/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { imageFolderDataset, type ImageFolderOptions } from './index.ts';

const DEFAULTS: ImageFolderOptions = {
  path: null,
  testPath: null,
  size: [32, 32],
  channels: 3,
  fit: 'fill',
  testFraction: 0.2,
  validationSize: 0,
  splitSeed: 0,
  cache: 'disk',
  cacheDir: null,
};
const root = mkdtempSync(join(tmpdir(), 'ub-image-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Rgb = readonly [number, number, number];
/** A fixed modification time, so a test can change a file's bytes without changing its cache key. */
const MTIME = 1_000_000_000;

async function writeImage(path: string, width: number, height: number, colour: (x: number, y: number) => Rgb, format: 'png' | 'jpeg'): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set(colour(x, y), (y * width + x) * 3);
  const image = sharp(raw, { raw: { width, height, channels: 3 } });
  await (format === 'png' ? image.png() : image.jpeg({ quality: 95 })).toFile(path);
  utimesSync(path, MTIME, MTIME);
}

function context(messages: string[] = []): PluginContext {
  const logger: Logger = { info: (m) => messages.push(m), warn: (m) => messages.push(`warn: ${m}`), debug: () => {}, progress: () => {} };
  return { rng: createRng(0), logger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
}

async function load(options: Partial<ImageFolderOptions>, messages: string[] = [], definition = imageFolderDataset) {
  return definition.create({ ...DEFAULTS, cache: 'memory', ...options }, context(messages)).load();
}

/** Pixel (x, y) of example i as [r, g, b] in 0..255. */
function rgb(examples: Examples, i: number, x: number, y: number): number[] {
  const [h, w, c] = examples.inputShape;
  const at = i * h * w * c + (y * w + x) * c;
  return Array.from(examples.inputs.subarray(at, at + c), (v) => v * 255);
}

function expectClose(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, k) => expect(Math.abs(v - expected[k]), `channel ${k}: ${v} vs ${expected[k]}`).toBeLessThanOrEqual(tolerance));
}

const RED: Rgb = [200, 30, 40];
const BLUE: Rgb = [20, 40, 210];
const QUADRANTS = (x: number, y: number): Rgb => (y < 8 ? (x < 8 ? [255, 0, 0] : [0, 255, 0]) : x < 8 ? [0, 0, 255] : [255, 255, 255]);
/** The grey level of image k of the split folders: identifies it after decoding (PNG is lossless). */
const level = (label: number, k: number) => 10 + label * 100 + k * 8;

const animals = join(root, 'animals');
const split = join(root, 'split');

beforeAll(async () => {
  await writeImage(join(animals, 'cat', '1-red.png'), 10, 20, () => RED, 'png');
  await writeImage(join(animals, 'cat', '2-quadrants.png'), 16, 16, QUADRANTS, 'png');
  await writeImage(join(animals, 'cat', 'more', '3-red.jpg'), 30, 12, () => RED, 'jpeg');
  await writeImage(join(animals, 'dog', 'a.JPEG'), 8, 8, () => BLUE, 'jpeg');
  await writeImage(join(animals, 'dog', 'b.jpg'), 40, 24, () => BLUE, 'jpeg');
  writeFileSync(join(animals, 'dog', 'notes.txt'), 'not an image');
  writeFileSync(join(animals, 'dog', '.DS_Store'), 'hidden');
  mkdirSync(join(animals, '.ipynb_checkpoints'));
  for (const label of [0, 1]) {
    for (let k = 0; k < 10; k++) {
      const v = level(label, k);
      await writeImage(join(split, 'train', `class-${label}`, `${k}.png`), 4, 4, () => [v, v, v], 'png');
      if (k < 3) await writeImage(join(split, 'test', `class-${label}`, `${k}.png`), 4, 4, () => [v + 4, v + 4, v + 4], 'png');
    }
  }
});

/** Which image each example is, by its grey level. */
const levels = (examples: Examples) => Array.from({ length: examples.count }, (_, i) => Math.round(examples.inputs[i * 48] * 255));

describe('image-folder', () => {
  it('fills defaults from its schema and needs a path', () => {
    const options = {};
    expect(getOrCreateValidator(imageFolderDataset.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(DEFAULTS);
    expect(() => imageFolderDataset.create(DEFAULTS, context())).toThrowErrorMatchingInlineSnapshot(`[Error: image-folder needs options.path: a folder with one subfolder of PNG or JPEG images per class]`);
  });

  it('reads sorted class folders of PNG and JPEG files, resized, as NHWC values in [0, 1]', async () => {
    const messages: string[] = [];
    const data = await load({ path: animals, size: [8, 8], testFraction: 0.4, cache: 'off' }, messages);
    expect(messages).toEqual([
      '2 classes (cat, dog), 5 images (split by testFraction 0.4) as 8×8×3: 5 decoded, 0 from the memory cache, 0 from the disk cache; 1 file(s) that are not PNG or JPEG left out',
    ]);
    expect([data.numClasses, data.train.count, data.test.count]).toEqual([2, 3, 2]);
    expect(data.train.inputShape).toEqual([8, 8, 3]);
    const all = [data.train, data.test].flatMap((part) => Array.from({ length: part.count }, (_, i) => ({ part, i, label: part.labels[i], corner: rgb(part, i, 0, 0) })));
    const quadrants = all.filter((e) => e.corner[0] > 250);
    expect(quadrants).toHaveLength(1);
    const { part, i } = quadrants[0];
    expect(part.labels[i]).toBe(0);
    // Row-major HWC with x to the right and y down: the 16×16 quadrants keep their corners at 8×8.
    expectClose(rgb(part, i, 0, 0), [255, 0, 0], 1);
    expectClose(rgb(part, i, 7, 0), [0, 255, 0], 1);
    expectClose(rgb(part, i, 0, 7), [0, 0, 255], 1);
    expectClose(rgb(part, i, 7, 7), [255, 255, 255], 1);
    for (const e of all.filter((x) => x !== quadrants[0])) {
      // Red images are cats, blue ones dogs; JPEG changes a flat colour by a few levels at most.
      const colour = e.label === 0 ? RED : BLUE;
      for (const [x, y] of [[0, 0], [3, 5], [7, 7]]) expectClose(rgb(e.part, e.i, x, y), colour, 4);
    }
    const grey = await load({ path: animals, size: [2, 3], channels: 1, cache: 'off', testFraction: 0.4 });
    expect(grey.train.inputShape).toEqual([2, 3, 1]);
    expect(grey.train.inputs.length).toBe(3 * 6);
  });

  it('converts to one grey channel', async () => {
    const dir = join(root, 'grey');
    for (const [name, v] of [['dark', 40], ['light', 200]] as const) {
      for (let k = 0; k < 3; k++) await writeImage(join(dir, name, `${k}.png`), 5, 5, () => [v, v, v], 'png');
    }
    const data = await load({ path: dir, size: [3, 3], channels: 1, cache: 'off', testFraction: 0.34 });
    for (const part of [data.train, data.test]) {
      for (let i = 0; i < part.count; i++) expectClose(rgb(part, i, 1, 1), [part.labels[i] === 0 ? 40 : 200], 1);
    }
  });

  it('splits seeded by testFraction, or uses train/ and test/ folders, with a disjoint validation set', async () => {
    const options = { path: join(split, 'train'), size: [4, 4] as [number, number], testFraction: 0.25, splitSeed: 2 };
    const a = await load(options);
    const b = await load(options);
    const c = await load({ ...options, splitSeed: 3 });
    expect([a.train.count, a.test.count]).toEqual([15, 5]);
    expect(levels(b.train)).toEqual(levels(a.train));
    expect(levels(c.test)).not.toEqual(levels(a.test));
    const everything = [0, 1].flatMap((label) => Array.from({ length: 10 }, (_, k) => level(label, k)));
    expect([...levels(a.train), ...levels(a.test)].sort((x, y) => x - y)).toEqual(everything);
    levels(a.train).forEach((v, i) => expect(a.train.labels[i]).toBe(v >= 110 ? 1 : 0));
    const withValidation = await load({ ...options, validationSize: 4 });
    expect(levels(withValidation.test)).toEqual(levels(a.test));
    expect(withValidation.validation!.count).toBe(4);
    expect([...levels(withValidation.train), ...levels(withValidation.validation!)].sort((x, y) => x - y)).toEqual([...levels(a.train)].sort((x, y) => x - y));

    const messages: string[] = [];
    const folders = await load({ path: split, size: [4, 4], validationSize: 2 }, messages);
    expect(messages[0]).toBe('2 classes (class-0, class-1), 26 images (train and test) as 4×4×3: 6 decoded, 20 from the memory cache, 0 from the disk cache');
    expect([folders.train.count, folders.validation!.count, folders.test.count]).toEqual([18, 2, 6]);
    expect(levels(folders.test).sort((x, y) => x - y)).toEqual([14, 22, 30, 114, 122, 130]);
    levels(folders.test).forEach((v, i) => expect(folders.test.labels[i]).toBe(v >= 110 ? 1 : 0));
    const explicit = await load({ path: join(split, 'train'), testPath: join(split, 'test'), size: [4, 4], validationSize: 2 });
    expect(levels(explicit.train)).toEqual(levels(folders.train));
  });

  it('caches decoded images in memory and on disk, keyed by path, modification time and size', async () => {
    const dir = join(root, 'cached');
    const cacheDir = join(root, 'cache');
    for (const name of ['x', 'y']) for (let k = 0; k < 3; k++) await writeImage(join(dir, name, `${k}.png`), 6, 6, (px) => [k * 40, px * 20, name === 'x' ? 0 : 250], 'png');
    const options = { path: dir, size: [6, 6] as [number, number], cache: 'disk' as const, cacheDir, testFraction: 0.34 };
    const counts = (messages: string[]) => messages[0].split(': ').at(-1);

    const first: string[] = [];
    const reference = await load(options, first);
    expect(counts(first)).toBe('6 decoded, 0 from the memory cache, 0 from the disk cache');
    const files = readdirSync(cacheDir);
    expect(files).toHaveLength(1);
    expect(statSync(join(cacheDir, files[0])).size).toBe(6 * (32 + 6 * 6 * 3));

    // Same bytes count and modification time, other contents: a cache hit must not look at the file.
    const victim = join(dir, 'x', '1.png');
    writeFileSync(victim, Buffer.alloc(statSync(victim).size, 7));
    utimesSync(victim, MTIME, MTIME);
    const second: string[] = [];
    expect(await load(options, second)).toEqual(reference);
    expect(counts(second)).toBe('0 decoded, 6 from the memory cache, 0 from the disk cache');

    // A fresh module has an empty memory cache, as a second run or a worker process does: the disk serves.
    vi.resetModules();
    const fresh = (await import('./index.ts')).imageFolderDataset;
    const third: string[] = [];
    expect(await load(options, third, fresh)).toEqual(reference);
    expect(counts(third)).toBe('0 decoded, 0 from the memory cache, 6 from the disk cache');

    // A new modification time makes the file new: it is decoded, and this one is not an image.
    utimesSync(victim, MTIME + 1, MTIME + 1);
    await expect(load(options)).rejects.toThrow(new RegExp(`^image-folder: cannot decode ${victim.replaceAll('.', '\\.')}: .+\\. Remove the file or replace it with a readable PNG or JPEG\\.$`));
  });

  it('refuses a folder without classes, a single class, an empty class folder and mismatched test classes', async () => {
    const message = async (options: Partial<ImageFolderOptions>) => {
      try {
        await load({ size: [4, 4], cache: 'off', ...options });
      } catch (error) {
        return (error as Error).message.replaceAll(root, '<root>');
      }
      throw new Error('expected the load to fail');
    };
    const empty = join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'readme.txt'), 'no classes here');
    expect(await message({ path: empty })).toBe('image-folder: <root>/empty has no class folders; expected one subfolder per class holding PNG or JPEG files, e.g. <root>/empty/cat/0001.png');
    expect(await message({ path: join(root, 'missing') })).toBe("image-folder: cannot read the folder <root>/missing: ENOENT: no such file or directory, scandir '<root>/missing'");
    const single = join(root, 'single');
    await writeImage(join(single, 'only', 'a.png'), 4, 4, () => RED, 'png');
    expect(await message({ path: single })).toBe('image-folder: <root>/single has 1 class folder (only); a classification dataset needs at least 2');
    const hollow = join(root, 'hollow');
    await writeImage(join(hollow, 'full', 'a.png'), 4, 4, () => RED, 'png');
    mkdirSync(join(hollow, 'void'));
    writeFileSync(join(hollow, 'void', 'a.gif'), 'GIF89a');
    expect(await message({ path: hollow })).toBe('image-folder: the class folder <root>/hollow/void holds no PNG or JPEG file (.png, .jpg, .jpeg); add images or remove the folder');
    expect(await message({ path: join(split, 'train'), testPath: animals })).toBe(
      'image-folder: the test folder <root>/animals has the classes [cat, dog], the training folder <root>/split/train [class-0, class-1]; both need the same class folders',
    );
  });
});
