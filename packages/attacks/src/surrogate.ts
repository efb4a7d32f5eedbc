/**
 * Pieces shared by the model-based attacks (witches-brew, gradient-canceling): training a surrogate
 * under the cell's seed, flat parameter gradients, and the input gradient of an objective of the
 * parameter gradient, ∇ₓ F(∇_θ L(θ; x, y)), that gradient-matching objectives need.
 *
 * Two ways to take it:
 * - `exact`: double backprop, ∇ₓ of F(∇_θ L) in one nested `tf.grad`. The loss is the cross-entropy
 *   written as logSumExp(z) − z_y (`tf.logSoftmax` is a customGrad op whose second derivative is
 *   wrong in tfjs-core 4.22), with the gradient registrations of core's tf-gradients.ts, which repair
 *   Exp, Softmax, Sigmoid, Tanh and add the missing second-order kernels for conv nets.
 * - `finite-difference`: the mixed derivative ∇ₓ⟨∇_θ L, d⟩ with d = ∂F/∂g held fixed, by a central
 *   difference along d in parameter space,
 *     ∇ₓ⟨∇_θ L(θ; x), d⟩ ≈ (∇ₓ L(θ + h·d̂) − ∇ₓ L(θ − h·d̂)) · ‖d‖ / (2h),
 *   which needs only first-order input gradients (two per step; the behaviour before double
 *   backprop was repaired).
 */
import * as tf from '@tensorflow/tfjs-core';
import { accuracy, crossEntropyPerExample, trainSgd, type AttackInput, type ClassifierModel, type Examples, type PluginContext } from '@unlearn-bench/core';

/** A model trained on `examples` with the cell's recipe; its examples count towards the attack's compute. */
export function trainSurrogate(input: AttackInput, examples: Examples, ctx: PluginContext, label: string): { model: ClassifierModel; examples: number; testAccuracy: number } {
  const model = input.models.build(ctx.rng.fork(`${label}:init`));
  try {
    const report = trainSgd(model, examples, { ...input.training, rng: ctx.rng.fork(`${label}:order`), meter: ctx.meter, logger: ctx.logger, label });
    return { model, examples: report.examples, testAccuracy: accuracy(model, input.data.test) };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** ∇_θ of the summed cross-entropy of the batch, all parameters flattened and concatenated. */
export function parameterGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const variables = model.parameters() as tf.Variable[];
    const { grads } = tf.variableGrads(() => tf.sum(crossEntropyPerExample(model.logits(x), y)) as tf.Scalar, variables);
    return tf.concat(variables.map((v) => tf.reshape(grads[v.name] ?? tf.zerosLike(v), [-1]))) as tf.Tensor1D;
  });
}

/** Σ over `examples` (in batches) of ∇_θ cross-entropy, flat. */
export function summedParameterGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D, batchSize = 500): tf.Tensor1D {
  let total: tf.Tensor1D | undefined;
  const n = x.shape[0];
  for (let offset = 0; offset < n; offset += batchSize) {
    const size = Math.min(batchSize, n - offset);
    const part = tf.tidy(() => parameterGradient(model, tf.slice(x, offset, size), tf.slice(y, offset, size)));
    if (total) {
      const next = tf.add(total, part) as tf.Tensor1D;
      total.dispose();
      part.dispose();
      total = next;
    } else total = part;
  }
  return total!;
}

/** How the input gradient of an objective of ∇_θ L is taken: double backprop or a finite difference in θ. */
export type SecondOrderMethod = 'exact' | 'finite-difference';

/**
 * Summed softmax cross-entropy as Σᵢ logSumExp(zᵢ) − zᵢ,yᵢ: the same value as `crossEntropyPerExample`
 * (to rounding), but built from ops whose second derivatives are right (see core's tf-gradients.ts).
 */
export function twiceDifferentiableCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), logits), 1))) as tf.Scalar);
}

/** ∇_θ of the summed cross-entropy, flat, built so that it can be differentiated again (with respect to x). */
function differentiableParameterGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor1D {
  const variables = model.parameters() as tf.Variable[];
  const { grads } = tf.variableGrads(() => twiceDifferentiableCrossEntropy(model.logits(x), y), variables);
  return tf.concat(variables.map((v) => tf.reshape(grads[v.name] ?? tf.zerosLike(v), [-1]))) as tf.Tensor1D;
}

/**
 * F(g) and ∇ₓ F(g) for g = ∇_θ Σᵢ ℓ(θ; xᵢ, yᵢ) by double backprop. `objective` maps the flat parameter
 * gradient to a scalar with differentiable ops.
 */
export function exactObjectiveInputGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D, objective: (g: tf.Tensor1D) => tf.Scalar): { value: number; gradient: tf.Tensor } {
  let value = Number.NaN;
  const gradient = tf.tidy(() => {
    const { value: v, grad } = tf.valueAndGrad((input: tf.Tensor) => objective(differentiableParameterGradient(model, input, y)))(x);
    value = v.dataSync()[0];
    return grad;
  });
  return { value, gradient };
}

/** ∇ₓ of the summed cross-entropy at the current parameters. */
function inputGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(crossEntropyPerExample(model.logits(input), y)))(x));
}

/**
 * ∇ₓ⟨Σᵢ ∇_θ ℓ(θ; xᵢ, yᵢ), d⟩ by a central difference of input gradients along d̂ = d/‖d‖ with
 * parameter step `h` (the model's variables are moved and restored exactly).
 */
export function mixedInputGradient(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D, direction: tf.Tensor1D, h: number): tf.Tensor {
  const variables = model.parameters() as tf.Variable[];
  const saved = variables.map((v) => tf.clone(v));
  try {
    const norm = tf.tidy(() => tf.norm(direction).dataSync()[0]);
    if (!(norm > 0)) return tf.zerosLike(x);
    const shift = (sign: number) =>
      tf.tidy(() => {
        let offset = 0;
        variables.forEach((v, i) => {
          const part = tf.reshape(tf.slice(direction, offset, v.size), v.shape);
          offset += v.size;
          v.assign(tf.add(saved[i], tf.mul(part, (sign * h) / norm)));
        });
      });
    shift(1);
    const plus = inputGradient(model, x, y);
    shift(-1);
    const minus = inputGradient(model, x, y);
    const out = tf.tidy(() => tf.mul(tf.sub(plus, minus), norm / (2 * h)));
    plus.dispose();
    minus.dispose();
    return out;
  } finally {
    variables.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/** Euclidean norm of all parameters, for scaling finite-difference steps. */
export function parameterNorm(model: ClassifierModel): number {
  return tf.tidy(() => Math.sqrt(tf.addN(model.parameters().map((v) => tf.sum(tf.square(v)))).dataSync()[0]));
}

/**
 * Standard deviation of all input values: both originals measure their step sizes in units of the
 * inputs normalised by the dataset's σ (forest/consts.py in poisoning-gradient-matching; MNIST's
 * σ = 0.3081 in plim).
 */
export function inputStd(values: Float32Array): number {
  let sum = 0;
  let squares = 0;
  for (const v of values) {
    sum += v;
    squares += v * v;
  }
  const mean = sum / values.length;
  return Math.sqrt(Math.max(0, squares / values.length - mean * mean));
}
