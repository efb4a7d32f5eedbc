/**
 * The classifier interface every model plugin implements and every attack, unlearner and metric
 * uses. Models hold their parameters as TF.js variables.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Rng } from './rng.ts';

/** What a model can do beyond predicting; contributions declare what they need in `requires`. */
export type Capability = 'parameters' | 'input-gradients' | 'layers';

/** Every capability name, for schema and validation. */
export const CAPABILITIES: readonly Capability[] = ['parameters', 'input-gradients', 'layers'];

/** One layer's parameters, ordered input to output (for methods such as EU-k and CF-k). */
export interface ModelLayer {
  /** Stable name, e.g. `conv1`, `dense2`. */
  readonly name: string;
  /** Trainable variables of this layer (kernel, bias, …). */
  readonly parameters: readonly tf.Variable[];
  /** Re-draws this layer's parameters from its initialiser using `rng`. */
  reinitialize(rng: Rng): void;
}

/** A classifier producing logits. The caller owns returned tensors. */
export interface ClassifierModel {
  /** Shape of one input example, e.g. `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability>;
  /** Logits `[batch, numClasses]` for inputs `[batch, ...inputShape]`. */
  logits(inputs: tf.Tensor): tf.Tensor2D;
  /** All trainable variables, in layer order (capability `parameters`). */
  parameters(): readonly tf.Variable[];
  /** Parameters grouped by layer, input to output (capability `layers`). */
  layers(): readonly ModelLayer[];
  /** An independent copy with equal weights. */
  clone(): ClassifierModel;
  /** Copies of every parameter's values, in `parameters()` order. */
  getWeights(): Float32Array[];
  /** Overwrites every parameter, in `parameters()` order; lengths must match. */
  setWeights(weights: readonly Float32Array[]): void;
  /** Frees every tensor the model holds. */
  dispose(): void;
}
