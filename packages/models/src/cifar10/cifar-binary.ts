/**
 * Reader of the "binary version" of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html),
 * shared by `core/cifar10` and `core/cifar100`. A file is a sequence of fixed-size records: the label
 * byte(s), then 3,072 pixel bytes — the red plane, the green plane and the blue plane, each 32×32
 * row-major. Each file is read in one call and dropped after its selected records are decoded, so
 * only the chosen subset is ever held as float32 (NHWC, values v / 255).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createExamples, createRng, resolveOptionPath, type DatasetSplit, type Examples, type Logger, type PluginContext } from '@unlearn-bench/core';

/** Side of a CIFAR image. */
const CIFAR_SIDE = 32;
const PLANE = CIFAR_SIDE * CIFAR_SIDE;
const PIXEL_BYTES = 3 * PLANE;
/** The page that publishes both datasets. */
export const CIFAR_URL = 'https://www.cs.toronto.edu/~kriz/cifar.html';

/** What differs between CIFAR-10 and CIFAR-100. */
export interface CifarLayout {
  /** Dataset id, used in messages and as the split's name. */
  readonly id: string;
  /** Name on the download page, e.g. `CIFAR-10`. */
  readonly title: string;
  /** The archive on the download page and the folder it extracts to. */
  readonly archive: string;
  readonly folder: string;
  readonly trainFiles: readonly string[];
  readonly testFiles: readonly string[];
  /** Classes of each label byte before the pixels of a record (CIFAR-100: coarse, fine). */
  readonly labelClasses: readonly number[];
  /** Which label byte is the label. */
  readonly labelIndex: number;
  /** Text file with one class name per line, in label order, for the chosen label byte. */
  readonly namesFile: string;
  /** Files of the pickled "python version", named in a hint when they are found instead. */
  readonly pythonFiles: readonly string[];
  /** Records per official file (for the message about the expected sizes). */
  readonly officialRecords: Readonly<Record<string, number>>;
}

/** Options both CIFAR datasets share (the schema fragment is `cifarOptionsSchema`). */
export interface CifarOptions {
  /** Folder of the binary version, relative to the manifest. @default null */
  readonly path: string | null;
  /** Training examples, a seeded subset of the official training part; null: all not used for validation. @default null */
  readonly trainSize: number | null;
  /** Test examples, a seeded subset of the official test part; null: all of it. @default null */
  readonly testSize: number | null;
  /** Validation examples from the official training part, disjoint from the training subset. @default 0 */
  readonly validationSize: number;
  /** Seed of the subsets (independent of the experiment seed). @default 0 */
  readonly splitSeed: number;
  /** Standardise each channel by the mean and standard deviation of the official training part. @default false */
  readonly normalize: boolean;
}

const SEED_MAX = 4294967295;

/** JSON Schema properties of `CifarOptions`; `trainMax`/`testMax` are the official part sizes. */
export function cifarOptionsSchema(layout: Pick<CifarLayout, 'title' | 'folder'>, trainMax: number, testMax: number): Record<string, object> {
  return {
    path: {
      type: ['string', 'null'],
      default: null,
      description: `Folder of the ${layout.title} binary version (${layout.folder}/ as extracted, or the folder holding it), relative to the manifest; required.`,
    },
    trainSize: {
      type: ['integer', 'null'],
      minimum: 1,
      maximum: trainMax,
      default: null,
      description: 'Training examples: a subset of the official training part seeded by splitSeed; null: all of it except the validation examples.',
    },
    testSize: { type: ['integer', 'null'], minimum: 1, maximum: testMax, default: null, description: 'Test examples: a subset of the official test part seeded by splitSeed; null: all of it.' },
    validationSize: {
      type: 'integer',
      minimum: 0,
      maximum: trainMax - 1,
      default: 0,
      description: 'Validation examples, taken from the official training part after the training subset in the same seeded order (so the training subset does not change), for selection rules; 0 for none.',
    },
    splitSeed: { type: 'integer', minimum: 0, maximum: SEED_MAX, default: 0, description: 'Seed of the subsets (independent of the experiment seed).' },
    normalize: {
      type: 'boolean',
      default: false,
      description: 'Standardise each channel by the mean and standard deviation of the whole official training part (computed from the files); false keeps pixels in [0, 1].',
    },
  };
}

/** The fixed part of every error about the folder: what is expected and where to get it. */
function expectation(layout: CifarLayout): string {
  const record = layout.labelClasses.length + PIXEL_BYTES;
  const labels = layout.labelClasses.length === 1 ? '1 label byte' : `${layout.labelClasses.length} label bytes (coarse, fine)`;
  const files = [...layout.trainFiles, ...layout.testFiles].map((f) => `${f} (${layout.officialRecords[f].toLocaleString('en-US')} records, ${(layout.officialRecords[f] * record).toLocaleString('en-US')} bytes)`);
  return (
    `Expected the binary version of ${layout.title}: ${files.join(', ')}, each a whole number of ${record.toLocaleString('en-US')}-byte records ` +
    `(${labels}, then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32×32 image), and ${layout.namesFile} (class names). ` +
    `Download "${layout.title} binary version (suitable for C programs)" from ${CIFAR_URL} and extract it (tar xzf ${layout.archive} gives ${layout.folder}/).`
  );
}

/** The folder holding the files: `path` itself, or the extracted folder inside it. */
function locate(layout: CifarLayout, path: string): string {
  const has = (dir: string) => existsSync(join(dir, layout.trainFiles[0]));
  if (has(path)) return path;
  if (has(join(path, layout.folder))) return join(path, layout.folder);
  if (existsSync(path) && statSync(path).isFile()) {
    throw new Error(`${layout.id}: ${path} is a file, not a folder. ${expectation(layout)}`);
  }
  const found = existsSync(path) ? readdirSync(path) : [];
  const python = layout.pythonFiles.every((f) => found.includes(f));
  const hint = python ? ` It holds ${layout.pythonFiles.join(', ')}: that is the pickled "python version", which this reader does not read.` : '';
  const where = existsSync(path) ? `${path} has no ${layout.trainFiles[0]}.` : `${path} does not exist.`;
  return fail(layout, `${where}${hint}`);
}

function fail(layout: CifarLayout, what: string): never {
  throw new Error(`${layout.id}: ${what} ${expectation(layout)}`);
}

/** Records in each file, after checking that every file exists and is a whole number of records. */
function recordCounts(layout: CifarLayout, dir: string): Map<string, number> {
  const record = layout.labelClasses.length + PIXEL_BYTES;
  const missing = [...layout.trainFiles, ...layout.testFiles].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) fail(layout, `${dir} lacks ${missing.join(', ')}.`);
  const counts = new Map<string, number>();
  for (const file of [...layout.trainFiles, ...layout.testFiles]) {
    const { size } = statSync(join(dir, file));
    if (size === 0 || size % record !== 0) {
      fail(layout, `${join(dir, file)} has ${size.toLocaleString('en-US')} bytes, not a positive multiple of the ${record.toLocaleString('en-US')}-byte record (a truncated download, or a file of another dataset).`);
    }
    counts.set(file, size / record);
  }
  return counts;
}

/** Class names from the names file, or null (with a warning) when it is absent. */
function classNames(layout: CifarLayout, dir: string, logger: Logger): string[] | null {
  const file = join(dir, layout.namesFile);
  if (!existsSync(file)) {
    logger.warn(`${file} is missing; classes are known by number only`);
    return null;
  }
  const names = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const expected = layout.labelClasses[layout.labelIndex];
  if (names.length !== expected) fail(layout, `${file} lists ${names.length} class names, not ${expected}.`);
  return names;
}

/** Where each record of a part goes: -1 when unselected, else its row in `targets[part]`. */
interface Selection {
  /** Output part per record (0, 1, … into `outputs`), -1 for records left out. */
  readonly part: Int8Array;
  readonly row: Int32Array;
}

function selection(total: number, sizes: readonly number[], order: Int32Array): Selection {
  const part = new Int8Array(total).fill(-1);
  const row = new Int32Array(total);
  let start = 0;
  sizes.forEach((size, p) => {
    for (let i = 0; i < size; i++) {
      part[order[start + i]] = p;
      row[order[start + i]] = i;
    }
    start += size;
  });
  return { part, row };
}

/** Float32 value of each byte: v / 255. */
const UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 255);

interface Decoded {
  readonly parts: Examples[];
  /** Per-channel sums of v / 255 and of its square over every record read. */
  readonly sum: Float64Array;
  readonly sumSquares: Float64Array;
  readonly records: number;
}

/** Decodes the selected records of `files` (one part of the dataset) into `sizes.length` outputs. */
function decodePart(layout: CifarLayout, dir: string, files: readonly string[], counts: Map<string, number>, sizes: readonly number[], order: Int32Array, withStatistics: boolean): Decoded {
  const record = layout.labelClasses.length + PIXEL_BYTES;
  const total = files.reduce((n, f) => n + counts.get(f)!, 0);
  const { part, row } = selection(total, sizes, order);
  const inputs = sizes.map((size) => new Float32Array(size * PIXEL_BYTES));
  const labels = sizes.map((size) => new Int32Array(size));
  const sum = new Float64Array(3);
  const sumSquares = new Float64Array(3);
  const histogram = Array.from({ length: 3 }, () => new Float64Array(256));
  let index = 0;
  for (const file of files) {
    const bytes = readFileSync(join(dir, file));
    for (let r = 0; r < counts.get(file)!; r++, index++) {
      const offset = r * record;
      layout.labelClasses.forEach((classes, b) => {
        if (bytes[offset + b] >= classes) {
          fail(layout, `record ${r + 1} of ${join(dir, file)} has ${layout.labelClasses.length === 1 ? 'label' : `${['coarse', 'fine'][b]} label`} ${bytes[offset + b]}, outside 0..${classes - 1}: the file is not ${layout.title}.`);
        }
      });
      const label = bytes[offset + layout.labelIndex];
      const pixels = offset + layout.labelClasses.length;
      if (withStatistics) {
        for (let c = 0; c < 3; c++) {
          const counts256 = histogram[c];
          for (let k = pixels + c * PLANE, end = k + PLANE; k < end; k++) counts256[bytes[k]]++;
        }
      }
      const p = part[index];
      if (p < 0) continue;
      const out = inputs[p];
      const base = row[index] * PIXEL_BYTES;
      labels[p][row[index]] = label;
      // Planes (C, H, W) → interleaved (H, W, C).
      for (let k = 0, o = base; k < PLANE; k++, o += 3) {
        out[o] = UNIT[bytes[pixels + k]];
        out[o + 1] = UNIT[bytes[pixels + PLANE + k]];
        out[o + 2] = UNIT[bytes[pixels + 2 * PLANE + k]];
      }
    }
  }
  for (let c = 0; c < 3; c++) {
    for (let v = 0; v < 256; v++) {
      sum[c] += histogram[c][v] * UNIT[v];
      sumSquares[c] += histogram[c][v] * UNIT[v] * UNIT[v];
    }
  }
  return { parts: sizes.map((_, p) => createExamples(inputs[p], labels[p], [CIFAR_SIDE, CIFAR_SIDE, 3])), sum, sumSquares, records: total };
}

/** Per-channel mean and (population) standard deviation from the sums of a decoded part. */
function channelStatistics(decoded: Decoded): { mean: number[]; std: number[] } {
  const n = decoded.records * PLANE;
  const mean = Array.from(decoded.sum, (s) => s / n);
  const std = Array.from(decoded.sumSquares, (s, c) => Math.sqrt(Math.max(s / n - mean[c] * mean[c], 0)));
  return { mean, std };
}

function standardise(examples: Examples, mean: readonly number[], std: readonly number[]): void {
  const values = examples.inputs;
  for (let i = 0; i < values.length; i += 3) {
    for (let c = 0; c < 3; c++) values[i + c] = (values[i + c] - mean[c]) / (std[c] || 1);
  }
}

/** Loads the split described by `options` from the folder of `layout`. */
export function loadCifar(layout: CifarLayout, options: CifarOptions, ctx: Pick<PluginContext, 'baseDir' | 'logger'>): DatasetSplit {
  if (options.path === null) {
    throw new Error(`${layout.id} needs options.path: the folder of the ${layout.title} binary version (${layout.folder}/). Download it from ${CIFAR_URL}.`);
  }
  const dir = locate(layout, resolveOptionPath(ctx, options.path));
  const counts = recordCounts(layout, dir);
  const trainTotal = layout.trainFiles.reduce((n, f) => n + counts.get(f)!, 0);
  const testTotal = layout.testFiles.reduce((n, f) => n + counts.get(f)!, 0);
  const trainCount = options.trainSize ?? trainTotal - options.validationSize;
  const testCount = options.testSize ?? testTotal;
  if (trainCount < 1 || trainCount + options.validationSize > trainTotal) {
    throw new RangeError(`${layout.id}: the training part in ${dir} has ${trainTotal} records; trainSize ${trainCount} + validationSize ${options.validationSize} does not fit; lower one of them`);
  }
  if (testCount > testTotal) throw new RangeError(`${layout.id}: the test part in ${dir} has ${testTotal} records; testSize ${testCount} exceeds it`);
  const names = classNames(layout, dir, ctx.logger);
  const rng = createRng(options.splitSeed);
  const train = decodePart(layout, dir, layout.trainFiles, counts, [trainCount, options.validationSize], rng.fork('train').permutation(trainTotal), options.normalize);
  const test = decodePart(layout, dir, layout.testFiles, counts, [testCount], rng.fork('test').permutation(testTotal), false);
  const [trainExamples, validation] = train.parts;
  if (options.normalize) {
    const { mean, std } = channelStatistics(train);
    for (const examples of [trainExamples, validation, test.parts[0]]) standardise(examples, mean, std);
    ctx.logger.info(`standardised by the training part's channel means [${mean.map((m) => m.toFixed(4)).join(', ')}] and standard deviations [${std.map((s) => s.toFixed(4)).join(', ')}]`);
  }
  if (names) ctx.logger.info(`classes ${names.join(', ')}`);
  return {
    name: layout.id,
    train: trainExamples,
    test: test.parts[0],
    ...(options.validationSize > 0 ? { validation } : {}),
    numClasses: layout.labelClasses[layout.labelIndex],
  };
}
