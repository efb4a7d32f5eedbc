/**
 * `image-folder`: labelled images from a local folder in the torchvision ImageFolder layout — one
 * subfolder per class, whose sorted names are the classes 0, 1, …, holding PNG or JPEG files at any
 * depth. Images are decoded by sharp (EXIF orientation applied, alpha dropped), resized to `size`
 * and converted to `channels`, as NHWC float32 in [0, 1]. A folder with `train/` and `test/`
 * subfolders (or a `testPath`) gives the two parts; otherwise a seeded `testFraction` of the images
 * is the test set. Decoded images are cached (image-cache.ts), so a second load decodes nothing.
 */
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, relative } from 'node:path';
import { createExamples, createRng, defineDataset, resolveOptionPath, type Examples } from '@unlearn-bench/core';
import { decodeImages, type CacheMode, type DecodeSpec } from './image-cache.ts';

/** Options of `image-folder`. */
export interface ImageFolderOptions {
  /** Folder of class subfolders, or of `train/` and `test/` folders of them, relative to the manifest. @default null */
  readonly path: string | null;
  /** Folder of class subfolders for the test set; null: `path/test` when `path/train` and `path/test` exist, else a split of `path`. @default null */
  readonly testPath: string | null;
  /** Height and width every image is resized to. @default [32, 32] */
  readonly size: readonly [number, number];
  /** 3 for RGB, 1 for greyscale. @default 3 */
  readonly channels: 1 | 3;
  /** How the aspect ratio is handled: stretch (`fill`), crop the centre (`cover`) or pad with black (`contain`). @default "fill" */
  readonly fit: 'fill' | 'cover' | 'contain';
  /** Share of the images held out as test set when there is no test folder. @default 0.2 */
  readonly testFraction: number;
  /** Validation examples taken from the training images, disjoint from train and test. @default 0 */
  readonly validationSize: number;
  /** Seed of the split and of the order of the examples. @default 0 */
  readonly splitSeed: number;
  /** Where decoded images are kept: this process's memory and a file (`disk`), memory only, or nowhere. @default "disk" */
  readonly cache: CacheMode;
  /** Folder of the disk cache, relative to the manifest; null: unlearn-bench-cache/images in the OS temp folder. @default null */
  readonly cacheDir: string | null;
}

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/** The images of one root folder: files in class order, then path order, with their labels. */
interface Listing {
  readonly classes: string[];
  readonly files: string[];
  readonly labels: number[];
  /** Files that are not PNG or JPEG (left out). */
  readonly skipped: number;
}

const isDirectory = (path: string) => statSync(path).isDirectory();
const visible = (name: string) => !name.startsWith('.');

/** Files under `dir` at any depth, sorted by path; hidden entries are left out. */
function walk(dir: string): string[] {
  return readdirSync(dir)
    .filter(visible)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return isDirectory(path) ? walk(path) : [path];
    });
}

function list(root: string): Listing {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (error) {
    throw new Error(`image-folder: cannot read the folder ${root}: ${(error as Error).message}`, { cause: error });
  }
  const classes = entries.filter((name) => visible(name) && isDirectory(join(root, name))).sort();
  if (classes.length === 0) {
    throw new Error(`image-folder: ${root} has no class folders; expected one subfolder per class holding PNG or JPEG files, e.g. ${join(root, 'cat', '0001.png')}`);
  }
  const files: string[] = [];
  const labels: number[] = [];
  let skipped = 0;
  classes.forEach((name, label) => {
    const all = walk(join(root, name));
    const images = all.filter((path) => EXTENSIONS.has(extname(path).toLowerCase()));
    skipped += all.length - images.length;
    if (images.length === 0) throw new Error(`image-folder: the class folder ${join(root, name)} holds no PNG or JPEG file (.png, .jpg, .jpeg); add images or remove the folder`);
    files.push(...images);
    labels.push(...images.map(() => label));
  });
  return { classes, files, labels, skipped };
}

/** Examples of the images at `indices` of a listing, from their decoded bytes. */
function examples(pixels: readonly Uint8Array[], labels: readonly number[], indices: ArrayLike<number>, spec: DecodeSpec): Examples {
  const size = spec.height * spec.width * spec.channels;
  const inputs = new Float32Array(indices.length * size);
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const bytes = pixels[indices[i]];
    for (let k = 0; k < size; k++) inputs[i * size + k] = UNIT[bytes[k]];
    out[i] = labels[indices[i]];
  }
  return createExamples(inputs, out, [spec.height, spec.width, spec.channels]);
}

/** `image-folder`: class subfolders of PNG/JPEG images (torchvision ImageFolder layout). */
export const imageFolderDataset = defineDataset<ImageFolderOptions>({
  id: 'image-folder',
  description: 'Images from a local folder with one subfolder per class (torchvision ImageFolder layout), PNG or JPEG, resized to size; decoded once and cached.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      path: { type: ['string', 'null'], default: null, description: 'Folder of class subfolders (or of train/ and test/ folders of them), relative to the manifest; required.' },
      testPath: {
        type: ['string', 'null'],
        default: null,
        description: 'Folder of class subfolders for the test set; null: path/test when path has train/ and test/ subfolders, otherwise a testFraction split of path.',
      },
      size: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 4096 },
        minItems: 2,
        maxItems: 2,
        default: [32, 32],
        description: 'Height and width every image is resized to ([32, 32]: the CIFAR input size of the built-in image models).',
      },
      channels: { enum: [1, 3], default: 3, description: '3 for RGB (what torchvision’s ImageFolder loader gives), 1 for greyscale.' },
      fit: {
        enum: ['fill', 'cover', 'contain'],
        default: 'fill',
        description: 'Aspect ratio: fill stretches to size (as torchvision’s Resize((h, w)) does), cover crops the centre, contain pads with black.',
      },
      testFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'Share of the images held out as test set when there is no test folder.' },
      validationSize: { type: 'integer', minimum: 0, default: 0, description: 'Validation examples taken from the training images (disjoint from train and test), for selection rules; 0 for none.' },
      splitSeed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the split and of the order of the examples (independent of the experiment seed).' },
      cache: {
        enum: ['disk', 'memory', 'off'],
        default: 'disk',
        description: 'Where decoded images are kept so that a second load decodes nothing: this process’s memory and a file in cacheDir (disk), memory only, or nowhere (off).',
      },
      cacheDir: { type: ['string', 'null'], default: null, description: 'Folder of the disk cache, relative to the manifest; null: unlearn-bench-cache/images in the OS temp folder.' },
    },
  },
  create(options, ctx) {
    if (options.path === null) throw new Error('image-folder needs options.path: a folder with one subfolder of PNG or JPEG images per class');
    const root = resolveOptionPath(ctx, options.path);
    const spec: DecodeSpec = { height: options.size[0], width: options.size[1], channels: options.channels, fit: options.fit };
    const cacheDir = options.cacheDir === null ? join(tmpdir(), 'unlearn-bench-cache', 'images') : resolveOptionPath(ctx, options.cacheDir);
    return {
      async load() {
        let trainRoot = root;
        let testRoot = options.testPath === null ? null : resolveOptionPath(ctx, options.testPath);
        if (testRoot === null) {
          const split = ['train', 'test'].map((name) => join(root, name));
          let found = false;
          try {
            found = split.every(isDirectory);
          } catch {
            // One of them is missing: the folder is split by testFraction.
          }
          if (found) [trainRoot, testRoot] = split;
        }
        const train = list(trainRoot);
        const test = testRoot === null ? null : list(testRoot);
        if (train.classes.length < 2) throw new Error(`image-folder: ${trainRoot} has 1 class folder (${train.classes[0]}); a classification dataset needs at least 2`);
        if (test && test.classes.join('\0') !== train.classes.join('\0')) {
          throw new Error(`image-folder: the test folder ${testRoot} has the classes [${test.classes.join(', ')}], the training folder ${trainRoot} [${train.classes.join(', ')}]; both need the same class folders`);
        }
        const files = [...train.files, ...(test?.files ?? [])];
        const { pixels, counts } = await decodeImages(files, spec, { mode: options.cache, dir: cacheDir, root }, (m) => ctx.logger.warn(m));
        const skipped = train.skipped + (test?.skipped ?? 0);
        ctx.logger.info(
          `${train.classes.length} classes (${train.classes.join(', ')}), ${files.length} images ` +
            `${test ? `(${relative(root, trainRoot) || basename(trainRoot)} and ${relative(root, testRoot!) || basename(testRoot!)})` : `(split by testFraction ${options.testFraction})`} ` +
            `as ${spec.height}×${spec.width}×${spec.channels}: ${counts.decoded} decoded, ${counts.fromMemory} from the memory cache, ${counts.fromDisk} from the disk cache` +
            (skipped > 0 ? `; ${skipped} file(s) that are not PNG or JPEG left out` : ''),
        );
        const rng = createRng(options.splitSeed);
        const n = train.files.length;
        const v = options.validationSize;
        let parts: { train: Int32Array; test: Int32Array; validation: Int32Array };
        if (test) {
          const order = rng.fork('train').permutation(n);
          if (v >= n) throw new RangeError(`image-folder: ${trainRoot} has ${n} images; validationSize ${v} leaves none for training`);
          const testOrder = rng.fork('test').permutation(test.files.length).map((i) => i + n);
          parts = { validation: order.subarray(0, v), train: order.subarray(v), test: testOrder };
        } else {
          const order = rng.permutation(n);
          const testCount = Math.round(options.testFraction * n);
          if (testCount < 1 || testCount + v >= n) {
            throw new RangeError(`image-folder: ${n} images with testFraction ${options.testFraction} and validationSize ${v} leave an empty train or test set; add images, give a test folder or change testFraction`);
          }
          parts = { test: order.subarray(0, testCount), validation: order.subarray(testCount, testCount + v), train: order.subarray(testCount + v) };
        }
        const labels = [...train.labels, ...(test?.labels ?? [])];
        return {
          name: 'image-folder',
          train: examples(pixels, labels, parts.train, spec),
          test: examples(pixels, labels, parts.test, spec),
          ...(v > 0 ? { validation: examples(pixels, labels, parts.validation, spec) } : {}),
          numClasses: train.classes.length,
        };
      },
    };
  },
});
