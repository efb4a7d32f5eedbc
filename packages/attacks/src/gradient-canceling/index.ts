/**
 * Gradient Canceling (Lu, Kamath, Yu, ICML 2023, "Exploring the limits of model-targeted
 * indiscriminate data poisoning attacks", arXiv 2303.03592): pick a low-accuracy target parameter
 * vector θp, then optimise the poison inputs (labels fixed) so that θp becomes a stationary point of
 * the poisoned training loss, i.e. minimise ‖∇L(θp; S) + ε·∇L(θp; P)‖² with ε = |P|/|S| (plus the
 * recipe's weight decay term).
 *
 * Here θp is a model trained from scratch on S with a fraction of its labels shifted y → y+1 (a
 * simple stand-in for the paper's GradPC targets), and the poisons start as k training points with
 * random wrong labels (exactly `core/label-flip`'s random mode), whose inputs are then moved by
 * signed gradient steps within [0, 1]. The input gradient of the gradient norm needs a mixed second
 * derivative, taken by a finite difference in parameter space (see ../surrogate.ts).
 *
 * The target must be reachable: k poisons can only cancel a clean gradient of bounded size, so θp
 * is a model that is worse than the clean one but not far from it (15% of labels shifted by
 * default, about 10 points of accuracy on MNIST). Like the paper's experiments, the attack is made
 * for convex victims: on softmax regression (`core/mlp` with `hidden: []`) 3% poisons cost about
 * 2.5× the accuracy of as many random label flips; on an MLP the victim does not end at θp and the
 * attack is no stronger than label flipping (see the package README).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Artifacts,
  LABEL_FLIP,
  createExamples,
  defineAttack,
  inputsTensor,
  labelsTensor,
  selectExamples,
  splitIndices,
  type ClassifierModel,
  type Examples,
} from '@unlearn-bench/core';
import { mixedInputGradient, parameterGradient, parameterNorm, summedParameterGradient, trainSurrogate } from '../surrogate.ts';

/** Options of `core/gradient-canceling`. */
export interface GradientCancelingOptions {
  /** Number of poisons k; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisons as a fraction of the training set, used when `count` is null. @default 0.03 */
  readonly fraction: number;
  /** Fraction of S whose labels are shifted y → y+1 to train the target parameters θp. @default 0.15 */
  readonly targetFlipFraction: number;
  /** Signed-gradient steps on the poison inputs. @default 400 */
  readonly iterations: number;
  /** Initial step in input units (decayed ×0.1 at 1/2 and 3/4 of the iterations). @default 0.1 */
  readonly stepSize: number;
}

/** Progress of one optimisation: the objective ‖v‖² before, after each step, and the best found. */
export interface CancelingResult {
  readonly poisons: Float32Array;
  readonly objectives: readonly number[];
  readonly best: number;
}

/**
 * Moves the inputs of `initial` (labels fixed) to minimise ‖(Σ_S ∇ℓ(θ) + Σ_P ∇ℓ(θ))/|S| + λθ(|S|+|P|)/|S|‖²
 * at the model's current parameters θ; returns the best poisons found and the objective trace.
 */
export function cancelGradients(model: ClassifierModel, clean: Examples, initial: Examples, options: { iterations: number; stepSize: number; weightDecay: number }): CancelingResult {
  const scale = 1 / clean.count;
  const h = 1e-3 * parameterNorm(model);
  const fixed = tf.tidy(() => {
    const x = inputsTensor(clean);
    const y = labelsTensor(clean);
    let g = tf.mul(summedParameterGradient(model, x, y), scale);
    if (options.weightDecay > 0) {
      const theta = tf.concat(model.parameters().map((v) => tf.reshape(v, [-1])));
      g = tf.add(g, tf.mul(theta, (options.weightDecay * (clean.count + initial.count)) / clean.count));
    }
    return g;
  });
  const labels = labelsTensor(initial);
  let inputs = inputsTensor(initial);
  const objectives: number[] = [];
  let best: { poisons: Float32Array; value: number } = { poisons: initial.inputs.slice(), value: Number.POSITIVE_INFINITY };
  try {
    for (let it = 0; it <= options.iterations; it++) {
      const v = tf.tidy(() => tf.add(fixed, tf.mul(parameterGradient(model, inputs, labels), scale)) as tf.Tensor1D);
      const value = tf.tidy(() => tf.sum(tf.square(v)).dataSync()[0]);
      objectives.push(value);
      if (value < best.value) best = { poisons: inputs.dataSync().slice() as Float32Array, value };
      if (it === options.iterations) {
        v.dispose();
        break;
      }
      const decay = it >= (3 * options.iterations) / 4 ? 0.01 : it >= options.iterations / 2 ? 0.1 : 1;
      const gradient = mixedInputGradient(model, inputs, labels, v, h);
      const next = tf.tidy(() => tf.clipByValue(tf.sub(inputs, tf.mul(tf.sign(gradient), options.stepSize * decay)), 0, 1));
      tf.dispose([v, gradient, inputs]);
      inputs = next;
    }
  } finally {
    tf.dispose([fixed, labels, inputs]);
  }
  return { poisons: best.poisons, objectives, best: best.value };
}

/** `core/gradient-canceling`: poisons that make a low-accuracy θp stationary for the poisoned loss. */
export const gradientCancelingAttack = defineAttack<GradientCancelingOptions>({
  id: 'gradient-canceling',
  description: 'Gradient Canceling: poisons optimised so that a low-accuracy target model is a stationary point of the poisoned training loss.',
  references: [{ title: 'Lu, Kamath, Yu, Exploring the Limits of Model-Targeted Indiscriminate Data Poisoning Attacks, ICML 2023', url: 'https://arxiv.org/abs/2303.03592' }],
  requires: ['parameters', 'input-gradients'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of poisons k; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.03, description: 'Poisons as a fraction of the training set (used when count is null).' },
      targetFlipFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.15, description: 'Fraction of S whose labels are shifted y → y+1 to train the target parameters θp (small enough for k poisons to reach it).' },
      iterations: { type: 'integer', minimum: 0, default: 400, description: 'Signed-gradient steps on the poison inputs.' },
      stepSize: { type: 'number', exclusiveMinimum: 0, default: 0.1, description: 'Initial step in input units (decayed ×0.1 at 1/2 and 3/4 of the iterations).' },
    },
  },
  create(options, ctx) {
    return {
      poison(input) {
        const { data, training } = input;
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k >= train.count) throw new RangeError(`cannot make ${k} poisons from ${train.count} training points; choose count in 1..${train.count - 1}`);
        // Initial poisons: k random points with random wrong labels (core/label-flip, random mode).
        const { chosen, rest } = splitIndices(train.count, k, ctx.rng.fork('points'));
        const base = selectExamples(train, chosen);
        const labelRng = ctx.rng.fork('labels');
        const flipped = Int32Array.from(base.labels, (y) => (y + 1 + labelRng.int(data.numClasses - 1)) % data.numClasses);
        const clean = selectExamples(train, rest);

        const shiftRng = ctx.rng.fork('target-labels');
        const shifted = Int32Array.from(clean.labels, (y) => (shiftRng.next() < options.targetFlipFraction ? (y + 1) % data.numClasses : y));
        const target = trainSurrogate(input, createExamples(clean.inputs, shifted, clean.inputShape), ctx, 'gradient-canceling target');
        let examplesUsed = target.examples;
        const artifacts = new Artifacts().set(LABEL_FLIP, { originalLabels: base.labels, mode: 'gradient-canceling' });
        let result: CancelingResult;
        try {
          result = cancelGradients(target.model, clean, createExamples(base.inputs, flipped, train.inputShape), { iterations: options.iterations, stepSize: options.stepSize, weightDecay: training.weightDecay });
          examplesUsed += clean.count + (options.iterations + 1) * k + options.iterations * 2 * k;
          ctx.logger.info(`gradient-canceling: target accuracy ${target.testAccuracy.toFixed(3)}; ‖∇L(θp)‖² ${result.objectives[0].toExponential(3)} → ${result.best.toExponential(3)} over ${options.iterations} steps`);
        } finally {
          target.model.dispose();
        }
        return { clean, poisons: createExamples(result.poisons, flipped, train.inputShape), artifacts, examplesUsed };
      },
    };
  },
});
