/**
 * Labelled examples as flat typed arrays. Datasets, attacks and metrics exchange these; batches
 * become tensors only where a model needs them.
 */
import type { Rng } from './rng.ts';

/**
 * `count` examples of shape `inputShape`, stored row-major in `inputs`, with integer labels. Text
 * datasets also carry the raw `texts`; their `inputs` are the model's features of those texts
 * (empty, with inputShape `[0]`, until a featurizer has run).
 */
export interface Examples {
  readonly inputs: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
  /** Shape of one example, e.g. `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  /** Raw texts, row-aligned (text datasets only). */
  readonly texts?: readonly string[];
}

/** A train/test split with class count. */
export interface DatasetSplit {
  readonly name: string;
  readonly train: Examples;
  readonly test: Examples;
  /**
   * Held-out examples disjoint from train and test, for choosing among a sweep's variants without
   * looking at the test set (`selection` in a manifest); absent unless the dataset was asked for
   * them (e.g. core/mnist's `validationSize`).
   */
  readonly validation?: Examples;
  readonly numClasses: number;
}

/** Number of values in one example. */
export function exampleSize(inputShape: readonly number[]): number {
  return inputShape.reduce((a, b) => a * b, 1);
}

/** Builds an Examples value, checking that sizes agree. */
export function createExamples(inputs: Float32Array, labels: Int32Array, inputShape: readonly number[], texts?: readonly string[]): Examples {
  const size = exampleSize(inputShape);
  if (inputs.length !== labels.length * size) {
    throw new RangeError(
      `inputs has ${inputs.length} values, expected ${labels.length} examples × ${size} = ${labels.length * size}`,
    );
  }
  if (texts && texts.length !== labels.length) throw new RangeError(`${texts.length} texts for ${labels.length} labels`);
  return texts ? { inputs, labels, count: labels.length, inputShape: [...inputShape], texts } : { inputs, labels, count: labels.length, inputShape: [...inputShape] };
}

/** Text examples without features yet (inputShape `[0]`). */
export function createTextExamples(texts: readonly string[], labels: Int32Array): Examples {
  return createExamples(new Float32Array(0), labels, [0], texts);
}

/** The examples at `indices`, in that order (copies). */
export function selectExamples(examples: Examples, indices: ArrayLike<number>): Examples {
  const size = exampleSize(examples.inputShape);
  const inputs = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    if (j < 0 || j >= examples.count) throw new RangeError(`index ${j} out of range 0..${examples.count - 1}`);
    inputs.set(examples.inputs.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = examples.labels[j];
  }
  const texts = examples.texts ? Array.from(indices, (j) => examples.texts![j]) : undefined;
  return createExamples(inputs, labels, examples.inputShape, texts);
}

/** `a` followed by `b` (copies); shapes must match. */
export function concatExamples(a: Examples, b: Examples): Examples {
  if (a.inputShape.join('x') !== b.inputShape.join('x')) {
    throw new RangeError(`cannot concatenate shapes [${a.inputShape}] and [${b.inputShape}]`);
  }
  const inputs = new Float32Array(a.inputs.length + b.inputs.length);
  inputs.set(a.inputs, 0);
  inputs.set(b.inputs, a.inputs.length);
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels, 0);
  labels.set(b.labels, a.count);
  if (!!a.texts !== !!b.texts) throw new RangeError('cannot concatenate text examples with non-text examples');
  return createExamples(inputs, labels, a.inputShape, a.texts && b.texts ? [...a.texts, ...b.texts] : undefined);
}

/** Splits indices 0..count-1 into a random subset of size `k` and the rest (both sorted). */
export function splitIndices(count: number, k: number, rng: Rng): { chosen: Int32Array; rest: Int32Array } {
  if (k < 0 || k > count) throw new RangeError(`cannot choose ${k} of ${count}`);
  const perm = rng.permutation(count);
  const chosen = Int32Array.from(perm.subarray(0, k)).sort();
  const rest = Int32Array.from(perm.subarray(k)).sort();
  return { chosen, rest };
}
