/**
 * The classifier interface every model plugin implements and every attack, unlearner and metric
 * uses. Models hold their parameters as TF.js variables.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { createRng, type Rng } from './rng.ts';

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
  /**
   * Token models only (`ClassifierModel.tokenInputs`): run on these token embeddings
   * `[batch, ...embeddingShape]` instead of looking up the inputs' token ids, as Hugging Face's
   * `inputs_embeds`; the inputs still give each text's length. Input gradients of token models are
   * taken with respect to this tensor (see `embed`).
   */
  readonly embeddings?: tf.Tensor;
}

/**
 * The input layout of models that read token ids (language models trained end to end, such as
 * `core/gpt2`), and the continuous space in which their input gradients are taken and Gaussian
 * poisons add noise: the token embeddings. One input row holds `maxLength` token ids (each text's
 * tokens from position 0, then `TOKEN_PADDING`), followed by two values that describe Gaussian noise
 * on the token embeddings of that example: a seed (0: none) and σ (see `tokenNoise`). A poison is
 * thus a text plus its noise, and any model, clone or retraining that reads the row adds the same
 * noise.
 */
export interface TokenInputs {
  /** Token ids per row. */
  readonly maxLength: number;
  /** Token ids are integers in [0, vocabSize). */
  readonly vocabSize: number;
  /** Shape of one example's token embeddings, `[maxLength, dim]`. */
  readonly embeddingShape: readonly number[];
}

/** The value of a token input row after the end of its text. */
export const TOKEN_PADDING = -1;

/** Values in one token input row: the ids, then the noise seed and σ. */
export function tokenRowSize(maxLength: number): number {
  return maxLength + 2;
}

/**
 * The Gaussian noise ξ ~ N(0, σ²I) of `size` values that a token input row with this noise seed and
 * σ adds to its token embeddings (row-major `[maxLength, dim]`): the seeded stream `createRng(seed)`.
 * Seeds are positive integers below 2²⁴ (exact in a float32 row); σ is read as float32.
 */
export function tokenNoise(seed: number, sigma: number, size: number): Float32Array {
  if (!Number.isInteger(seed) || seed < 1 || seed >= 2 ** 24) throw new RangeError(`token noise seed ${seed} must be an integer in 1..2^24-1`);
  return createRng(seed).normalArray(size, Math.fround(sigma));
}

/** A classifier producing logits. The caller owns returned tensors. */
export interface ClassifierModel {
  /** Shape of one input example, e.g. `[28, 28, 1]`. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability>;
  /** Set by models whose inputs are token ids; their `input-gradients` are with respect to the token embeddings. */
  readonly tokenInputs?: TokenInputs;
  /**
   * Token models only: the token embeddings of `inputs` `[batch, ...tokenInputs.embeddingShape]`
   * (Hugging Face's `wte(input_ids)`), with the Gaussian noise the rows carry added; the caller owns
   * the result. `logits(inputs, { embeddings: embed(inputs) })` equals `logits(inputs)`.
   */
  embed?(inputs: tf.Tensor): tf.Tensor;
  /** Logits `[batch, numClasses]` for inputs `[batch, ...inputShape]`. */
  logits(inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D;
  /**
   * Optional, for speed: ∇ₓ of Σᵢ crossEntropy(logits(xᵢ), yᵢ) (evaluation mode) for `inputs`
   * `[batch, ...inputShape]` and int32 `labels` `[batch]`, by the model's own backward pass, with
   * no gradient tape: what `tf.grad` of that sum gives, from the same kernels. `inputGradients` uses
   * it where present (core/mlp has one); the caller owns the result. Models handed to an unlearner
   * hide it, so that their input gradients go through `tf.grad`, where the runner counts them.
   */
  inputLossGradient?(inputs: tf.Tensor, labels: tf.Tensor1D): tf.Tensor;
  /**
   * Optional, for speed: the mean cross-entropy of `inputs` `[batch, ...inputShape]` against int32
   * `labels` in training mode, and its gradient with respect to every parameter (keyed by variable
   * name), by the model's own backward pass with no gradient tape: what
   * `tf.variableGrads(() => crossEntropy(model.logits(inputs, { training: true }), labels), model.parameters())`
   * gives, from the same kernels, to the bit. `trainSgd` uses it for its default objective over all
   * parameters (core/mlp has one); the caller owns the tensors. Models handed to an unlearner hide it,
   * so that their training goes through the tape, where the runner counts it.
   */
  lossGradients?(inputs: tf.Tensor, labels: tf.Tensor1D): { value: tf.Scalar; grads: tf.NamedTensorMap };
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
