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
  /** This layer's buffers (batch-norm running statistics), if any; see `ClassifierModel.buffers`. */
  readonly buffers?: readonly tf.Variable[];
  /** Re-draws this layer's parameters from its initialiser using `rng`, and resets its buffers. */
  reinitialize(rng: Rng): void;
}

/** How `logits` runs the network. */
export interface LogitsOptions {
  /**
   * Training-mode forward pass: batch normalisation uses the batch's own statistics and updates its
   * running statistics (PyTorch's `model.train()`). Default false: evaluation mode, running statistics
   * used and left alone. Models without such layers ignore it. Core's `trainSgd` passes it to the
   * loss it differentiates; metrics, attacks and input gradients use evaluation mode.
   */
  readonly training?: boolean;
}

/** A classifier producing logits. The caller owns returned tensors. */
export interface ClassifierModel {
  /** Shape of one input example, e.g. `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability>;
  /** Logits `[batch, numClasses]` for inputs `[batch, ...inputShape]`. */
  logits(inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D;
  /** All trainable variables, in layer order (capability `parameters`). */
  parameters(): readonly tf.Variable[];
  /** Parameters grouped by layer, input to output (capability `layers`). */
  layers(): readonly ModelLayer[];
  /** An independent copy with equal weights. */
  clone(): ClassifierModel;
  /**
   * Non-trainable state that the forward pass reads, such as batch normalisation's running means
   * and variances; absent or empty for models without any. Gradients never flow into it, optimizers
   * never update it, and `clone`, `getWeights`/`setWeights` (so saved and cached models) carry it.
   */
  buffers?(): readonly tf.Variable[];
  /**
   * Copies of the model's whole state: every parameter's values in `parameters()` order, followed by
   * every buffer's in `buffers()` order. The first `parameters().length` arrays are the parameters.
   */
  getWeights(): Float32Array[];
  /** Overwrites the whole state, in `getWeights()` order; lengths must match. */
  setWeights(weights: readonly Float32Array[]): void;
  /** Frees every tensor the model holds. */
  dispose(): void;
}
