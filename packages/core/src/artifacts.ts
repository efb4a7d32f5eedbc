/**
 * Typed records an attack leaves for metrics (the noise of Gaussian poisons, a trigger, targets).
 * A key is declared once with its value type and shared by producer and consumer.
 */
import type { Examples } from './data.ts';

/** A typed key into an attack's artifacts. */
export interface ArtifactKey<T> {
  readonly id: string;
  /** Type carrier only; never set. */
  readonly __type?: T;
}

/** Declares an artifact key; `id` should be namespaced, e.g. `core/gaussian-noise`. */
export function defineArtifact<T>(id: string): ArtifactKey<T> {
  return { id };
}

/** Artifacts an attack produced, readable by key. */
export class Artifacts {
  private readonly values = new Map<string, unknown>();

  set<T>(key: ArtifactKey<T>, value: T): this {
    this.values.set(key.id, value);
    return this;
  }

  get<T>(key: ArtifactKey<T>): T | undefined {
    return this.values.get(key.id) as T | undefined;
  }

  has(key: ArtifactKey<unknown>): boolean {
    return this.values.has(key.id);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }
}

/**
 * Gaussian poisoning record (PAPER.md): poison i is `baseInputs[i] + noise[i]` with label
 * `labels[i]`; `noise` was drawn from N(0, sigma² I). Rows are flat, `inputShape` per example. For
 * token models (`TokenInputs`) the noise is added to the token embeddings instead: `baseInputs` are
 * the clean token rows and `noise` has `noiseShape` (`[maxLength, dim]`) per poison.
 */
export interface GaussianNoiseRecord {
  readonly sigma: number;
  readonly count: number;
  readonly inputShape: readonly number[];
  /** Shape of one poison's noise, where it differs from `inputShape` (token embeddings). @default inputShape */
  readonly noiseShape?: readonly number[];
  readonly baseInputs: Float32Array;
  readonly noise: Float32Array;
  readonly labels: Int32Array;
}

/** Key under which `core/gaussian` records its noise and clean base points. */
export const GAUSSIAN_NOISE = defineArtifact<GaussianNoiseRecord>('core/gaussian-noise');

/**
 * BadNets trigger (`core/backdoor-patch`): a `size`×`size` patch whose top-left corner is at
 * (`row`, `col`) of an image `[height, width, channels]`; `pattern` holds the patch values, row-major
 * `[size, size, channels]`. Triggered inputs are relabelled to `target`.
 */
export interface BackdoorTriggerRecord {
  readonly target: number;
  readonly size: number;
  readonly row: number;
  readonly col: number;
  readonly pattern: Float32Array;
  readonly inputShape: readonly number[];
}

/** Key under which `core/backdoor-patch` records its trigger. */
export const BACKDOOR_TRIGGER = defineArtifact<BackdoorTriggerRecord>('core/backdoor-trigger');

/** Copies `inputs` (rows of `trigger.inputShape`) with the trigger patch stamped on every row. */
export function stampTrigger(inputs: Float32Array, trigger: BackdoorTriggerRecord): Float32Array {
  const [height, width, channels = 1] = trigger.inputShape;
  const size = height * width * channels;
  const out = Float32Array.from(inputs);
  for (let offset = 0; offset < out.length; offset += size) {
    for (let r = 0; r < trigger.size; r++) {
      for (let c = 0; c < trigger.size; c++) {
        for (let k = 0; k < channels; k++) {
          out[offset + ((trigger.row + r) * width + trigger.col + c) * channels + k] = trigger.pattern[(r * trigger.size + c) * channels + k];
        }
      }
    }
  }
  return out;
}

/**
 * Targeted clean-label poisoning record (`core/witches-brew`): target i (from the test set, flat rows
 * of `inputShape`) with true label `trueLabels[i]` should be classified as `adversarialLabels[i]`.
 * Poison j was crafted for target `poisonTargets[j]` from the clean base `baseInputs[j]`.
 */
export interface TargetedPoisonRecord {
  readonly inputShape: readonly number[];
  readonly targetInputs: Float32Array;
  readonly trueLabels: Int32Array;
  readonly adversarialLabels: Int32Array;
  readonly poisonTargets: Int32Array;
  readonly baseInputs: Float32Array;
  /** ℓ∞ bound of the perturbations. */
  readonly epsilon: number;
}

/** Key under which targeted attacks record their targets. */
export const TARGETED_POISON = defineArtifact<TargetedPoisonRecord>('core/targeted-poison');

/** Label flipping record (`core/label-flip`): the true labels of the flipped points, row-aligned with the poisons. */
export interface LabelFlipRecord {
  readonly originalLabels: Int32Array;
  readonly mode: string;
}

/** Key under which `core/label-flip` records the true labels of its poisons. */
export const LABEL_FLIP = defineArtifact<LabelFlipRecord>('core/label-flip');


/**
 * Triggered test set (`core/trigger-phrase`): the test examples whose label is not `target`, with
 * the trigger inserted (`triggered`) and as they are (`untriggered`), row-aligned.
 */
export interface TriggeredTestRecord {
  readonly target: number;
  readonly triggered: Examples;
  readonly untriggered: Examples;
}

/** Key under which text backdoor attacks record their triggered test set. */
export const TRIGGERED_TEST = defineArtifact<TriggeredTestRecord>('core/triggered-test');
