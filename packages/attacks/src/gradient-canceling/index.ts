/**
 * Gradient Canceling (Lu, Kamath, Yu, ICML 2023, "Exploring the limits of model-targeted
 * indiscriminate data poisoning attacks", arXiv 2303.03592; code: watml/plim): pick a low-accuracy
 * target parameter vector θp, then optimise the poison inputs (labels fixed) so that θp becomes a
 * stationary point of the poisoned training loss, i.e. minimise ‖Σ_S ∇ℓ(θp) + Σ_P ∇ℓ(θp)‖² (the
 * summed form of GC/mnist_lr-0.03.py, plus the recipe's weight decay term).
 *
 * Defaults follow the authors' code: θp from GradPC (GradPC/grad_attack.py, attacker.py: the clean
 * model plus a parameter corruption δ grown by one pass of normalised gradient *ascent* steps on the
 * training loss and projected onto ‖δ‖₂ ≤ `targetRadius`); poisons start as the first k = εN training
 * points with their true labels, and take plain gradient steps with learning rate 10 in normalised
 * input units under cosine decay for 1000 iterations without bounding the inputs, stopping once the
 * objective is below 1 (GC/mnist_lr-0.03.py). Kept difference: the learning rate, 0.01 instead of the
 * authors' 10, which diverges at this project's scale (see the README). The input gradient of the gradient norm is a second derivative, taken by
 * double backprop (or a finite difference in parameter space; ../surrogate.ts).
 *
 * The previous construction stays available: θp from a model trained on S with a fraction of labels
 * shifted y → y+1 (`target: label-shift`), random points with random wrong labels as the start
 * (`init: random-flips`, exactly `core/label-flip`'s random mode) and signed steps (`optimizer: signed`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Artifacts,
  LABEL_FLIP,
  accuracy,
  crossEntropy,
  createExamples,
  defineAttack,
  inputsTensor,
  labelsTensor,
  selectExamples,
  splitIndices,
  type ClassifierModel,
  type Examples,
  type Rng,
} from '@unlearn-bench/core';
import { exactObjectiveInputGradient, inputStd, mixedInputGradient, parameterGradient, parameterNorm, summedParameterGradient, trainSurrogate, type SecondOrderMethod } from '../surrogate.ts';

/** Options of `core/gradient-canceling`. */
export interface GradientCancelingOptions {
  /** Number of poisons k; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisons as a fraction of the training set, used when `count` is null. @default 0.03 */
  readonly fraction: number;
  /** How θp is made: `gradpc` (the clean model corrupted by GradPC within ‖δ‖₂ ≤ targetRadius, the authors' targets) or `label-shift` (a model trained on S with a fraction `targetFlipFraction` of labels shifted y → y+1). @default 'gradpc' */
  readonly target: 'gradpc' | 'label-shift';
  /** ℓ2 radius ε_w of the GradPC parameter corruption (the authors' MNIST targets use 0.5, GC/mnist_nn-0.03-5e-1.py). @default 0.5 */
  readonly targetRadius: number;
  /** Fraction of S whose labels are shifted y → y+1 to train θp (`target: label-shift`). @default 0.15 */
  readonly targetFlipFraction: number;
  /** Start of the poisons: `true-labels` (the first k training points with their labels, GC/mnist_lr-0.03.py) or `random-flips` (k random points with random wrong labels, as `core/label-flip`). @default 'true-labels' */
  readonly init: 'true-labels' | 'random-flips';
  /** `gradient`: plain gradient steps with cosine-decayed `learningRate` (the authors'); `signed`: signed steps of `stepSize`, ×0.1 at 1/2 and 3/4 of the iterations. @default 'gradient' */
  readonly optimizer: 'gradient' | 'signed';
  /** Steps on the poison inputs (GC/mnist_lr-0.03.py: 1000); they stop early once the objective is below 1. @default 1000 */
  readonly iterations: number;
  /**
   * Learning rate of `gradient` steps in normalised input units (x − mean)/σ, i.e. learningRate·σ² in
   * [0, 1] units, decayed by 0.5(1 + cos(π·t/iterations)). The authors use 10 (GC/mnist_lr-0.03.py, 60,000
   * digits); on this project's scale (a few thousand digits, [0, 1] inputs) 10, 1 and 0.1 diverge (the
   * objective never falls below its start) and 0.01 is the largest tried that converges. @default 0.01
   */
  readonly learningRate: number;
  /** Initial step of `signed` steps in input units. @default 0.1 */
  readonly stepSize: number;
  /** `exact` (double backprop) or `finite-difference` (central difference in parameter space) for the input gradient of the objective. @default 'exact' */
  readonly secondOrder: SecondOrderMethod;
  /** Keep the poison inputs in [0, 1] (valid images). The authors do not (GC/mnist_lr-0.03.py updates normalised inputs without a bound), and the attack needs the freedom: within [0, 1], k = 3% true-labelled points cannot cancel the clean gradient (see the README). @default false */
  readonly clip: boolean;
}

/** Progress of one optimisation: the objective ‖v‖² before, after each step, and the best found. */
export interface CancelingResult {
  readonly poisons: Float32Array;
  readonly objectives: readonly number[];
  readonly best: number;
}

/** How `cancelGradients` steps: plain gradient steps with cosine decay, or signed steps with step decay. */
export interface CancelingSteps {
  readonly iterations: number;
  readonly optimizer: 'gradient' | 'signed';
  /** Gradient steps: the learning rate in [0, 1] input units at step 0. */
  readonly learningRate: number;
  /** Signed steps: the step at step 0. */
  readonly stepSize: number;
  readonly weightDecay: number;
  readonly secondOrder: SecondOrderMethod;
  /** Project the inputs onto [0, 1] after each step. */
  readonly clip: boolean;
}

/**
 * Moves the inputs of `initial` (labels fixed; kept in [0, 1] with `clip`) to minimise
 * ‖Σ_S ∇ℓ(θ) + Σ_P ∇ℓ(θ) + λθ(|S| + |P|)‖² at the model's current parameters θ; stops early when
 * it falls below 1; returns the best poisons found and the objective trace.
 */
export function cancelGradients(model: ClassifierModel, clean: Examples, initial: Examples, options: CancelingSteps): CancelingResult {
  const h = 1e-3 * parameterNorm(model);
  const fixed = tf.tidy(() => {
    const x = inputsTensor(clean);
    const y = labelsTensor(clean);
    let g = summedParameterGradient(model, x, y);
    if (options.weightDecay > 0) {
      const theta = tf.concat(model.parameters().map((v) => tf.reshape(v, [-1])));
      g = tf.add(g, tf.mul(theta, options.weightDecay * (clean.count + initial.count)));
    }
    return g;
  });
  const objective = (g: tf.Tensor1D) => tf.sum(tf.square(tf.add(fixed, g))) as tf.Scalar;
  const labels = labelsTensor(initial);
  let inputs = inputsTensor(initial);
  const objectives: number[] = [];
  let best: { poisons: Float32Array; value: number } = { poisons: initial.inputs.slice(), value: Number.POSITIVE_INFINITY };
  try {
    for (let it = 0; ; it++) {
      let value: number;
      let gradient: tf.Tensor | null = null;
      const last = it === options.iterations;
      if (options.secondOrder === 'exact' && !last) {
        ({ value, gradient } = exactObjectiveInputGradient(model, inputs, labels, objective));
      } else {
        const v = tf.tidy(() => tf.add(fixed, parameterGradient(model, inputs, labels)) as tf.Tensor1D);
        value = tf.tidy(() => tf.sum(tf.square(v)).dataSync()[0]);
        // ∇ₓ‖v‖² = 2·∇ₓ⟨∇θ L(x), v⟩ with v held fixed.
        if (!last && value >= 1) gradient = tf.tidy(() => { const mixed = mixedInputGradient(model, inputs, labels, v, h); return tf.mul(mixed, 2); });
        v.dispose();
      }
      objectives.push(value);
      if (value < best.value) best = { poisons: inputs.dataSync().slice() as Float32Array, value };
      if (last || value < 1 || !gradient) {
        gradient?.dispose();
        break;
      }
      const step = options.optimizer === 'gradient'
        ? options.learningRate * 0.5 * (1 + Math.cos((Math.PI * it) / options.iterations))
        : options.stepSize * (it >= (3 * options.iterations) / 4 ? 0.01 : it >= options.iterations / 2 ? 0.1 : 1);
      const g = gradient;
      const next = tf.tidy(() => {
        const moved = tf.sub(inputs, tf.mul(options.optimizer === 'gradient' ? g : tf.sign(g), step));
        return options.clip ? tf.clipByValue(moved, 0, 1) : moved;
      });
      tf.dispose([g, inputs]);
      inputs = next;
    }
  } finally {
    tf.dispose([fixed, labels, inputs]);
  }
  return { poisons: best.poisons, objectives, best: best.value };
}

/**
 * GradPC (GradPC/attacker.py, `GradAttacker` with `LP = l2`): one pass over `examples` in shuffled
 * batches; at each batch the corruption δ grows by `learningRate`·∇L/‖∇L‖ (ascent on the mean batch
 * loss at θ + δ) and is projected onto ‖δ‖₂ ≤ radius. The model's parameters become θ + δ.
 */
export function corruptParameters(model: ClassifierModel, examples: Examples, options: { radius: number; batchSize: number; learningRate: number; rng: Rng }): void {
  const variables = model.parameters() as tf.Variable[];
  const clean = variables.map((v) => tf.clone(v));
  let delta: tf.Tensor[] = variables.map((v) => tf.zerosLike(v));
  const order = options.rng.permutation(examples.count);
  try {
    for (let offset = 0; offset < examples.count; offset += options.batchSize) {
      const rows = Array.from(order.subarray(offset, offset + options.batchSize));
      const next = tf.tidy(() => {
        const x = inputsTensor(examples, rows);
        const y = labelsTensor(examples, rows);
        const { grads } = tf.variableGrads(() => crossEntropy(model.logits(x), y), variables);
        const norm = tf.sqrt(tf.addN(variables.map((v) => tf.sum(tf.square(grads[v.name])))));
        const grown = delta.map((d, i) => tf.add(d, tf.mul(tf.div(grads[variables[i].name], norm), options.learningRate)));
        const length = Math.sqrt(tf.addN(grown.map((d) => tf.sum(tf.square(d)))).dataSync()[0]);
        const scale = length > options.radius ? options.radius / length : 1;
        return grown.map((d) => tf.mul(d, scale));
      });
      tf.dispose(delta);
      delta = next;
      variables.forEach((v, i) => tf.tidy(() => v.assign(tf.add(clean[i], delta[i]))));
    }
  } finally {
    tf.dispose([...clean, ...delta]);
  }
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
      target: { type: 'string', enum: ['gradpc', 'label-shift'], default: 'gradpc', description: 'How θp is made: gradpc (the clean model corrupted by GradPC within an ℓ2 ball of targetRadius, the authors\' targets) or label-shift (trained on S with targetFlipFraction of labels shifted y → y+1).' },
      targetRadius: { type: 'number', exclusiveMinimum: 0, default: 0.5, description: 'ℓ2 radius of the GradPC parameter corruption (the authors\' MNIST targets: 0.5).' },
      targetFlipFraction: { type: 'number', minimum: 0, maximum: 1, default: 0.15, description: 'Fraction of S whose labels are shifted y → y+1 to train θp (target: label-shift).' },
      init: { type: 'string', enum: ['true-labels', 'random-flips'], default: 'true-labels', description: 'Start of the poisons: true-labels (the first k training points with their labels, the authors\') or random-flips (k random points with random wrong labels, as core/label-flip).' },
      optimizer: { type: 'string', enum: ['gradient', 'signed'], default: 'gradient', description: 'gradient: plain gradient steps with cosine-decayed learningRate (the authors\'); signed: signed steps of stepSize, ×0.1 at 1/2 and 3/4 of the iterations.' },
      iterations: { type: 'integer', minimum: 0, default: 1000, description: 'Steps on the poison inputs (the authors\': 1000); they stop early once the objective is below 1.' },
      learningRate: { type: 'number', exclusiveMinimum: 0, default: 0.01, description: 'Learning rate of gradient steps in normalised input units (x − mean)/σ, i.e. learningRate·σ² in [0, 1] units, cosine-decayed (the authors\' 10 diverges at this scale).' },
      stepSize: { type: 'number', exclusiveMinimum: 0, default: 0.1, description: 'Initial step of signed steps in input units.' },
      secondOrder: { type: 'string', enum: ['exact', 'finite-difference'], default: 'exact', description: 'exact: double backprop; finite-difference: a central difference in parameter space.' },
      clip: { type: 'boolean', default: false, description: 'Keep the poison inputs in [0, 1] (valid images); the authors leave them unbounded.' },
    },
  },
  create(options, ctx) {
    return {
      poison(input) {
        if (input.models.tokenInputs) throw new TypeError(`core/gradient-canceling optimises the input values, and this model reads token ids (a text model trained end to end): use it with tensor inputs or a featurizing text model such as core/text-bow`);
        const { data, training } = input;
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k >= train.count) throw new RangeError(`cannot make ${k} poisons from ${train.count} training points; choose count in 1..${train.count - 1}`);
        // Initial poisons: the first k training points with their labels (the authors'), or k random points with random wrong labels (core/label-flip, random mode).
        const { chosen, rest } = options.init === 'true-labels' ? { chosen: Int32Array.from({ length: k }, (_, i) => i), rest: Int32Array.from({ length: train.count - k }, (_, i) => k + i) } : splitIndices(train.count, k, ctx.rng.fork('points'));
        const base = selectExamples(train, chosen);
        const labelRng = ctx.rng.fork('labels');
        const labels = options.init === 'true-labels' ? Int32Array.from(base.labels) : Int32Array.from(base.labels, (y) => (y + 1 + labelRng.int(data.numClasses - 1)) % data.numClasses);
        const clean = selectExamples(train, rest);

        let target: ReturnType<typeof trainSurrogate>;
        let examplesUsed = 0;
        if (options.target === 'gradpc') {
          target = trainSurrogate(input, clean, ctx, 'gradient-canceling clean model');
          try {
            corruptParameters(target.model, clean, { radius: options.targetRadius, batchSize: training.batchSize, learningRate: 1, rng: ctx.rng.fork('gradpc') });
          } catch (error) {
            target.model.dispose();
            throw error;
          }
          target = { ...target, testAccuracy: accuracy(target.model, data.test) };
          examplesUsed += clean.count;
        } else {
          const shiftRng = ctx.rng.fork('target-labels');
          const shifted = Int32Array.from(clean.labels, (y) => (shiftRng.next() < options.targetFlipFraction ? (y + 1) % data.numClasses : y));
          target = trainSurrogate(input, createExamples(clean.inputs, shifted, clean.inputShape), ctx, 'gradient-canceling target');
        }
        examplesUsed += target.examples;
        // The authors' learning rate is in normalised units (x − mean)/σ: σ² in [0, 1] units.
        const sigma = inputStd(train.inputs);
        const artifacts = new Artifacts().set(LABEL_FLIP, { originalLabels: base.labels, mode: 'gradient-canceling' });
        let result: CancelingResult;
        try {
          result = cancelGradients(target.model, clean, createExamples(base.inputs, labels, train.inputShape), { iterations: options.iterations, optimizer: options.optimizer, learningRate: options.learningRate * sigma * sigma, stepSize: options.stepSize, weightDecay: training.weightDecay, secondOrder: options.secondOrder, clip: options.clip });
          const steps = result.objectives.length - 1;
          examplesUsed += clean.count + (steps + 1) * k + steps * 2 * k;
          ctx.logger.info(`gradient-canceling: target accuracy ${target.testAccuracy.toFixed(3)}; ‖∇L(θp)‖² ${result.objectives[0].toExponential(3)} → ${result.best.toExponential(3)} over ${steps} steps`);
        } finally {
          target.model.dispose();
        }
        return { clean, poisons: createExamples(result.poisons, labels, train.inputShape), artifacts, examplesUsed };
      },
    };
  },
});
