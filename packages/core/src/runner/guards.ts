/**
 * Checks the runner applies to every model and every plugin call, whatever the method: divergence
 * (non-finite weights, logits or training loss, or a loss blown up far beyond chance), and shared
 * data (the dataset, the clean and poison sets, the attack's artifacts) that a plugin changed in
 * place, which would silently change every later cell that reads it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Artifacts } from '../artifacts.ts';
import { selectExamples, type Examples } from '../data.ts';
import type { ClassifierModel } from '../model.ts';
import { crossEntropy, inputsTensor, labelsTensor } from '../training.ts';

/**
 * A model whose mean cross-entropy on the retain batch exceeds this many times chance level
 * (ln of the number of classes: the loss of a uniform prediction) is diverged. A model that has
 * learnt anything about the clean data is far below ln C on it, and even a model that predicts one
 * wrong class with high confidence for every input stays below it unless its logits have blown up.
 * Ten times chance leaves room for methods that deliberately raise the loss (gradient ascent stops
 * being a classifier long before) while catching blow-ups, whose losses grow without bound.
 */
export const BLOW_UP_FACTOR = 10;

/** Retain examples the divergence check evaluates: the first ones, the same for every model of a group. */
const DIVERGENCE_BATCH = 256;

/** The fixed evaluation batch of a group: the first `DIVERGENCE_BATCH` retain examples. */
export function divergenceBatch(retain: Examples): Examples {
  const count = Math.min(DIVERGENCE_BATCH, retain.count);
  return selectExamples(retain, Int32Array.from({ length: count }, (_, i) => i));
}

/**
 * Why `model` is diverged, or undefined if it is healthy: non-finite weights, non-finite logits on
 * `batch`, or a mean cross-entropy on `batch` above `BLOW_UP_FACTOR` · ln(numClasses).
 */
export function divergence(model: ClassifierModel, batch: Examples): string | undefined {
  for (const weights of model.getWeights()) {
    for (let i = 0; i < weights.length; i++) if (!Number.isFinite(weights[i])) return 'non-finite weights';
  }
  if (batch.count === 0) return undefined;
  const [finite, loss] = tf.tidy(() => {
    const logits = model.logits(inputsTensor(batch));
    const allFinite = tf.all(tf.isFinite(logits)).dataSync()[0] === 1;
    return [allFinite, allFinite ? crossEntropy(logits, labelsTensor(batch)).dataSync()[0] : Number.NaN] as const;
  });
  if (!finite) return 'non-finite logits';
  const bound = BLOW_UP_FACTOR * Math.log(model.numClasses);
  if (!(loss <= bound)) return `retain loss ${loss.toPrecision(4)} above the blow-up bound ${BLOW_UP_FACTOR}·ln(${model.numClasses}) = ${bound.toFixed(2)}`;
  return undefined;
}

type Shared = { readonly name: string; readonly array: Float32Array | Int32Array | Uint8Array | Float64Array | Int16Array | Uint16Array | Uint32Array | Int8Array };

/** The typed arrays of `value` (examples, records), searched a few levels deep. */
function typedArrays(value: unknown, name: string, out: Shared[], depth = 0): void {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    out.push({ name, array: value as Shared['array'] });
    return;
  }
  if (depth >= 3 || value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) typedArrays(child, `${name}.${key}`, out, depth + 1);
}

/**
 * A snapshot of data that several plugin calls share: a copy of every typed array and text list,
 * compared with the data after each call (a byte comparison runs at memory speed: hashing the
 * quickstart's 32 MB of digits with sha1 after every plugin call took about a second per group) and
 * restored from where it changed.
 */
export class SharedData {
  private parts: Shared[] = [];
  private readonly texts: { name: string; texts: readonly string[]; copy: string[] }[] = [];
  private readonly copies: Shared['array'][];

  /** Snapshots `sources` (name → examples, artifacts or records). */
  constructor(sources: Readonly<Record<string, Examples | Artifacts | object>>) {
    for (const [name, source] of Object.entries(sources)) {
      if (isArtifacts(source)) {
        for (const id of source.keys()) typedArrays(source.get({ id }), `${name}[${id}]`, this.parts);
        continue;
      }
      typedArrays(source, name, this.parts);
      const texts = (source as Examples).texts;
      if (Array.isArray(texts)) this.texts.push({ name: `${name}.texts`, texts, copy: [...texts] });
    }
    const seen = new Set<unknown>();
    this.parts = this.parts.filter((p) => !seen.has(p.array) && seen.add(p.array));
    this.copies = this.parts.map((p) => p.array.slice());
  }

  /**
   * Undefined if nothing changed since the snapshot; else restores every changed array from the
   * copy and returns the names of those that had changed.
   */
  restoreChanged(): string[] | undefined {
    const changed: string[] = [];
    this.parts.forEach(({ name, array }, i) => {
      const copy = this.copies[i];
      if (array.length !== copy.length || !equalBytes(array, copy)) {
        changed.push(name);
        array.set(copy.subarray(0, array.length) as never);
      }
    });
    for (const { name, texts, copy } of this.texts) {
      if (texts.length !== copy.length || texts.some((t, i) => t !== copy[i])) {
        changed.push(name);
        if (!Object.isFrozen(texts)) (texts as string[]).splice(0, texts.length, ...copy);
      }
    }
    return changed.length > 0 ? changed : undefined;
  }
}

function isArtifacts(value: unknown): value is Artifacts {
  return typeof (value as Artifacts).keys === 'function' && typeof (value as Artifacts).get === 'function';
}

function equalBytes(a: Shared['array'], b: Shared['array']): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
