/**
 * Witches' Brew (Geiping et al., ICLR 2021, arXiv 2009.02276; code: JonasGeiping/poisoning-gradient-matching):
 * clean-label targeted poisoning by gradient matching. Surrogates (an ensemble of `ensemble`) are
 * trained on the clean training set; for each target (a random test image as in the original, or a
 * random correctly classified one, or one among the least confident) an adversarial class is chosen
 * (random or the runner-up), and base training images of that class (labels kept) get ℓ∞-bounded
 * perturbations Δ (‖Δ‖∞ ≤ ε, inputs clipped to [0, 1]) that minimise
 * Σ_surrogates 1 − cos(∇_θ Σ ℓ(x_b + Δ, y_b), ∇_θ ℓ(x_t, y_adv)) by signed Adam (or plain signed steps)
 * from ε·N(0, 1) starts, with the original's learning-rate rule and milestones, under random
 * translations (differentiable augmentation), keeping the best of several random restarts; the input
 * gradient of the loss is taken by double backprop (or a finite difference, ../surrogate.ts). The
 * perturbed images replace their clean bases (which are in neither S nor P).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Artifacts,
  TARGETED_POISON,
  createExamples,
  defineAttack,
  exampleSize,
  inputsTensor,
  labelsTensor,
  predictClasses,
  selectExamples,
  type ClassifierModel,
  type Rng,
} from '@unlearn-bench/core';
import { exactObjectiveInputGradient, inputStd, mixedInputGradient, parameterGradient, parameterNorm, trainSurrogate, type SecondOrderMethod } from '../surrogate.ts';

/** Options of `core/witches-brew`. */
export interface WitchesBrewOptions {
  /** Number of poisons k (split evenly over the targets); overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisons as a fraction of the training set, used when `count` is null. @default 0.01 */
  readonly fraction: number;
  /** Number of targets, each with its own adversarial class and poisons. @default 1 */
  readonly targets: number;
  /** ℓ∞ bound of the perturbations (inputs in [0, 1]). @default 0.0627 (16/255) */
  readonly epsilon: number;
  /** Optimisation steps per restart (forest/options.py `--attackiter`). @default 250 */
  readonly iterations: number;
  /** Random restarts; the one with the lowest alignment loss is kept (forest/options.py `--restarts`). @default 8 */
  readonly restarts: number;
  /**
   * Initial step (learning rate) as a fraction of ε, decayed ×0.1 after ⌊iterations/2.667⌋, ⌊iterations/1.6⌋
   * and ⌊iterations/1.142⌋ steps. null: the original's rule for signed Adam, τ·(pbatch/512)/ensemble in
   * normalised input units with τ = 0.1 and pbatch = 512 (forest/witchcoven/witch_base.py, "Rule 2"),
   * i.e. 0.1·σ/ensemble in [0, 1] units, σ the standard deviation of the training inputs (MNIST: 0.308,
   * so 0.49ε for ε = 16/255). @default null
   */
  readonly stepSize: number | null;
  /** Start of each restart: `randn` (ε·N(0, 1) clipped to the ε ball and to [0, 1], forest/data/kettle.py `initialize_poison`, the original's default) or `uniform` (U(−ε, ε)). @default 'randn' */
  readonly init: 'randn' | 'uniform';
  /** `exact`: the input gradient of the alignment loss by double backprop; `finite-difference`: a central difference in parameter space (../surrogate.ts). @default 'exact' */
  readonly secondOrder: SecondOrderMethod;
  /** `signed-adam`: Adam on the sign of the gradient (Geiping et al.'s default); `signed-gradient`: plain signed steps. @default 'signed-adam' */
  readonly optimizer: 'signed-adam' | 'signed-gradient';
  /** Differentiable augmentation while brewing: each poison is translated by a random integer shift in −augment..augment pixels (both axes, zero fill) at every step; 0 turns it off. Only for image inputs [h, w, c] (others brew unaugmented). The original augments by default with shifts up to 1/14 of the side on MNIST (±2 px; forest/data/kettle.py, `paugment`). @default 2 */
  readonly augment: number;
  /** Surrogates trained with the cell's recipe from different initialisations; the alignment losses of all of them are summed. @default 1 */
  readonly ensemble: number;
  /** How each target's adversarial class is chosen: `random` (uniform over the other classes, as in the paper) or `runner-up` (the surrogate's second most likely class for the target). @default 'random' */
  readonly adversarialClass: 'random' | 'runner-up';
  /** Which test images become targets: `random` (any test image, as in the original, forest/data/kettle.py), `random-correct` (random among those the first surrogate classifies correctly) or `low-margin` (random among the 5% of correctly classified ones with the smallest margin between the first surrogate's true-class logit and its runner-up logit). @default 'random' */
  readonly targetSelection: 'random' | 'random-correct' | 'low-margin';
}

/** Translates each image of `x` [n, h, w, c] by its (dy, dx) with zero fill: out[r, c] = x[r − dy, c − dx]. */
export function translate(x: tf.Tensor, shifts: readonly (readonly [number, number])[], pad: number): tf.Tensor {
  return tf.tidy(() => {
    const [n, height, width, channels] = x.shape as [number, number, number, number];
    const padded = tf.pad(x as tf.Tensor4D, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) rows.push(tf.slice(padded, [i, pad - shifts[i][0], pad - shifts[i][1], 0], [1, height, width, channels]));
    return tf.concat(rows, 0);
  });
}

/** One surrogate's view of a target: the model, the target's adversarial gradient, its finite-difference step. */
interface Surrogate {
  readonly model: ClassifierModel;
  readonly targetGradient: tf.Tensor1D;
  readonly h: number;
}

/** 1 − cos(∇_θ Σ ℓ(inputs), target gradient) and its derivative with respect to the poison gradient. */
function alignment(surrogate: Surrogate, inputs: tf.Tensor, labels: tf.Tensor1D): { loss: tf.Scalar; direction: tf.Tensor1D } {
  return tf.tidy(() => {
    const { model, targetGradient } = surrogate;
    const g = parameterGradient(model, inputs, labels);
    const gNorm = tf.norm(g);
    const tNorm = tf.norm(targetGradient);
    const cos = tf.div(tf.sum(tf.mul(g, targetGradient)), tf.mul(gNorm, tNorm));
    // ∂(1 − cos)/∂g = −(t/(‖g‖‖t‖) − cos·g/‖g‖²)
    const direction = tf.neg(tf.sub(tf.div(targetGradient, tf.mul(gNorm, tNorm)), tf.div(tf.mul(cos, g), tf.square(gNorm)))) as tf.Tensor1D;
    return { loss: tf.sub(1, cos) as tf.Scalar, direction };
  });
}

/** 1 − cos(g, t) with differentiable ops, for double backprop. */
function alignmentObjective(targetGradient: tf.Tensor1D): (g: tf.Tensor1D) => tf.Scalar {
  return (g) => tf.sub(1, tf.div(tf.sum(tf.mul(g, targetGradient)), tf.mul(tf.norm(g), tf.norm(targetGradient)))) as tf.Scalar;
}

/** Step-size multiplier after `it` steps: ×0.1 at each of the original's milestones ⌊n/2.667⌋, ⌊n/1.6⌋, ⌊n/1.142⌋ (torch MultiStepLR). */
export function stepDecay(it: number, iterations: number): number {
  const milestones = [2.667, 1.6, 1.142].map((d) => Math.floor(iterations / d));
  return 0.1 ** milestones.filter((m) => it >= m).length;
}

/** The start of a restart: ε·N(0, 1) clipped to [−ε, ε] (`randn`) or U(−ε, ε) (`uniform`); the caller clips to [0, 1]. */
export function initialPerturbation(size: number, epsilon: number, init: 'randn' | 'uniform', rng: Rng): Float32Array {
  const start = init === 'randn' ? Float32Array.from(rng.normalArray(size), (z) => Math.max(-epsilon, Math.min(epsilon, z * epsilon))) : new Float32Array(size);
  if (init === 'uniform') for (let i = 0; i < size; i++) start[i] = (2 * rng.next() - 1) * epsilon;
  return start;
}

/**
 * One brew: perturbed inputs for `base` whose gradient aligns with the targets' gradients on every
 * surrogate (summed 1 − cos, unaugmented, is the final loss of the best restart).
 */
function brew(surrogates: readonly Surrogate[], base: tf.Tensor, labels: tf.Tensor1D, options: WitchesBrewOptions & { readonly learningRate: number; readonly augment: number }, rng: Rng): { poisons: Float32Array; loss: number; restartLosses: number[] } {
  let best: { poisons: Float32Array; loss: number } = { poisons: new Float32Array(0), loss: Number.POSITIVE_INFINITY };
  const restartLosses: number[] = [];
  const { epsilon, iterations, augment } = options;
  const n = base.shape[0];
  const totalLoss = (inputs: tf.Tensor) => surrogates.reduce((sum, s) => sum + tf.tidy(() => alignment(s, inputs, labels).loss.dataSync()[0]), 0);
  const [beta1, beta2] = [0.9, 0.999];
  for (let restart = 0; restart < options.restarts; restart++) {
    const start = initialPerturbation(base.size, epsilon, options.init, rng.fork(`init:${restart}`));
    const shiftRng = rng.fork(`augment:${restart}`);
    let delta = tf.tidy(() => tf.sub(tf.clipByValue(tf.add(base, tf.tensor(start, base.shape)), 0, 1), base));
    let m = tf.zerosLike(delta);
    let v = tf.zerosLike(delta);
    for (let it = 0; it < iterations; it++) {
      const step = options.learningRate * stepDecay(it, iterations);
      const shifts = augment > 0 ? Array.from({ length: n }, () => [shiftRng.int(2 * augment + 1) - augment, shiftRng.int(2 * augment + 1) - augment] as const) : null;
      const next = tf.tidy(() => {
        const clean = tf.add(base, delta);
        const inputs = shifts ? translate(clean, shifts, augment) : clean;
        let gradient: tf.Tensor = tf.zerosLike(inputs);
        for (const s of surrogates) {
          if (options.secondOrder === 'exact') {
            gradient = tf.add(gradient, exactObjectiveInputGradient(s.model, inputs, labels, alignmentObjective(s.targetGradient)).gradient);
          } else {
            const { direction } = alignment(s, inputs, labels);
            gradient = tf.add(gradient, mixedInputGradient(s.model, inputs, labels, direction, s.h));
          }
        }
        // The translation is a partial permutation; its adjoint is the opposite translation.
        if (shifts) gradient = translate(gradient, shifts.map(([dy, dx]) => [-dy, -dx] as const), augment);
        const signed = tf.sign(gradient);
        let update: tf.Tensor;
        if (options.optimizer === 'signed-adam') {
          const m2 = tf.add(tf.mul(m, beta1), tf.mul(signed, 1 - beta1));
          const v2 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(signed), 1 - beta2));
          const mHat = tf.div(m2, 1 - beta1 ** (it + 1));
          const vHat = tf.div(v2, 1 - beta2 ** (it + 1));
          update = tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), 1e-8)), step);
          tf.keep(m2);
          tf.keep(v2);
          m.dispose();
          v.dispose();
          m = m2;
          v = v2;
        } else update = tf.mul(signed, step);
        const moved = tf.clipByValue(tf.sub(delta, update), -epsilon, epsilon);
        return tf.sub(tf.clipByValue(tf.add(base, moved), 0, 1), base);
      });
      delta.dispose();
      delta = next;
    }
    const finalInputs = tf.add(base, delta);
    const loss = totalLoss(finalInputs);
    restartLosses.push(loss);
    if (loss < best.loss) best = { poisons: finalInputs.dataSync().slice() as Float32Array, loss };
    tf.dispose([finalInputs, delta, m, v]);
  }
  return { ...best, restartLosses };
}

/** `core/witches-brew`: targeted clean-label poisoning by gradient matching. */
export const witchesBrewAttack = defineAttack<WitchesBrewOptions>({
  id: 'witches-brew',
  description: "Witches' Brew: ε-bounded perturbations of adversarial-class images whose training gradient aligns with the target's adversarial gradient.",
  references: [{ title: "Geiping et al., Witches' Brew: Industrial Scale Data Poisoning via Gradient Matching, ICLR 2021", url: 'https://arxiv.org/abs/2009.02276' }],
  requires: ['parameters', 'input-gradients'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of poisons k, split evenly over the targets; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.01, description: 'Poisons as a fraction of the training set (used when count is null).' },
      targets: { type: 'integer', minimum: 1, maximum: 1000, default: 1, description: 'Number of targets, each with its own adversarial class and share of the poisons.' },
      epsilon: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.0627, description: 'ℓ∞ bound of the perturbations (16/255 for inputs in [0, 1]).' },
      iterations: { type: 'integer', minimum: 0, default: 250, description: 'Optimisation steps per restart (the original default, forest/options.py --attackiter).' },
      restarts: { type: 'integer', minimum: 1, default: 8, description: 'Random restarts; the lowest alignment loss is kept (forest/options.py --restarts).' },
      stepSize: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: "Initial step (learning rate) as a fraction of ε, decayed ×0.1 after ⌊n/2.667⌋, ⌊n/1.6⌋ and ⌊n/1.142⌋ of n steps. null: the original's signed-Adam rule, τ·(pbatch/512)/ensemble = 0.1/ensemble in normalised units, i.e. 0.1·σ/ensemble with σ the standard deviation of the training inputs (MNIST: 0.49ε)." },
      init: { type: 'string', enum: ['randn', 'uniform'], default: 'randn', description: 'Start of each restart: randn (ε·N(0, 1) clipped to the ε ball and [0, 1], the original) or uniform (U(−ε, ε)).' },
      secondOrder: { type: 'string', enum: ['exact', 'finite-difference'], default: 'exact', description: 'exact: the input gradient of the alignment loss by double backprop; finite-difference: a central difference in parameter space.' },
      optimizer: { type: 'string', enum: ['signed-adam', 'signed-gradient'], default: 'signed-adam', description: "signed-adam: Adam on the sign of the gradient (Geiping et al.'s default); signed-gradient: plain signed steps." },
      augment: { type: 'integer', minimum: 0, maximum: 8, default: 2, description: "Differentiable augmentation while brewing: every step translates each poison by a random integer shift in −augment..augment pixels on both axes (zero fill); 0 turns it off. Image inputs [h, w, c] only (others brew unaugmented). Default: the original's MNIST shift (±2 px)." },
      adversarialClass: { type: 'string', enum: ['random', 'runner-up'], default: 'random', description: "How each target's adversarial class is chosen: random (uniform over the other classes, as in the paper) or runner-up (the first surrogate's second most likely class for the target)." },
      targetSelection: { type: 'string', enum: ['random', 'random-correct', 'low-margin'], default: 'random', description: "Which test images become targets: random (any, as in the original), random-correct (random among those the first surrogate classifies correctly) or low-margin (random among the 5% of correctly classified ones with the smallest margin between the first surrogate's true-class logit and its runner-up logit)." },
      ensemble: { type: 'integer', minimum: 1, maximum: 16, default: 1, description: "Surrogates trained with the cell's recipe from different initialisations; their alignment losses are summed." },
    },
  },
  create(options, ctx) {
    return {
      poison(input) {
        if (input.models.tokenInputs) throw new TypeError(`core/witches-brew optimises the input values, and this model reads token ids (a text model trained end to end): use it with tensor inputs or a featurizing text model such as core/text-bow`);
        const { data } = input;
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        const perTarget = Math.floor(k / options.targets);
        if (perTarget < 1 || k >= train.count) throw new RangeError(`cannot split ${k} poisons over ${options.targets} target(s) from ${train.count} training points; choose count in ${options.targets}..${train.count - 1}`);

        const augment = train.inputShape.length === 3 ? options.augment : 0;
        if (augment !== options.augment) ctx.logger.info(`witches-brew: inputs of shape [${train.inputShape.join(', ')}] are not images, so the poisons are brewed without augmentation`);
        // The original's signed-Adam learning rate is 0.1/ensemble in normalised units (x − mean)/σ.
        const sigma = inputStd(train.inputs);
        const learningRate = options.stepSize === null ? (0.1 * sigma) / options.ensemble : options.stepSize * options.epsilon;
        const trained: ReturnType<typeof trainSurrogate>[] = [];
        try {
          for (let e = 0; e < options.ensemble; e++) trained.push(trainSurrogate(input, train, ctx, e === 0 ? 'witches-brew surrogate' : `witches-brew surrogate ${e}`));
          let examplesUsed = trained.reduce((sum, s) => sum + s.examples, 0);
          const model = trained[0].model;
          // Targets: test images the (first) surrogate gets right, in random order; adversarial class: any other.
          const predicted = predictClasses(model, data.test);
          let order = ctx.rng.fork('targets').permutation(data.test.count);
          if (options.targetSelection !== 'random') order = order.filter((i) => predicted[i] === data.test.labels[i]);
          if (options.targetSelection === 'low-margin') {
            const logits = tf.tidy(() => model.logits(inputsTensor(data.test)).arraySync() as number[][]);
            const margin = logits.map((row, i) => row[data.test.labels[i]] - Math.max(...row.filter((_, c) => c !== data.test.labels[i])));
            const pool = new Set(Array.from(order).sort((a, b) => margin[a] - margin[b] || a - b).slice(0, Math.max(options.targets, Math.ceil(0.05 * order.length))));
            order = order.filter((i) => pool.has(i)); // keeps the random order
          }
          if (order.length < options.targets) throw new RangeError(options.targetSelection === 'random' ? `only ${order.length} test images; choose targets ≤ ${order.length}` : `only ${order.length} test images are classified correctly by the surrogate; choose targets ≤ ${order.length}`);
          const targetIndices = Int32Array.from(order.subarray(0, options.targets));
          const targets = selectExamples(data.test, targetIndices);
          const labelRng = ctx.rng.fork('adversarial-labels');
          let adversarial = Int32Array.from(targets.labels, (y) => (y + 1 + labelRng.int(data.numClasses - 1)) % data.numClasses);
          if (options.adversarialClass === 'runner-up') {
            const logits = tf.tidy(() => model.logits(inputsTensor(targets)).arraySync() as number[][]);
            adversarial = Int32Array.from(logits, (row, t) => row.reduce((bestClass, value, c) => (c !== targets.labels[t] && (bestClass < 0 || value > row[bestClass]) ? c : bestClass), -1));
          }

          // Bases: disjoint random training images of each target's adversarial class.
          const pools = new Map<number, number[]>();
          const baseRng = ctx.rng.fork('bases');
          const chosen: number[] = [];
          const poisonTargets: number[] = [];
          adversarial.forEach((cls, t) => {
            if (!pools.has(cls)) pools.set(cls, baseRng.shuffle(Array.from(train.labels.keys()).filter((i) => train.labels[i] === cls)));
            const pool = pools.get(cls)!;
            const share = perTarget + (t < k - perTarget * options.targets ? 1 : 0);
            if (pool.length < share) throw new RangeError(`class ${cls} has too few training images left for ${share} poisons; lower count or targets`);
            for (const i of pool.splice(0, share)) {
              chosen.push(i);
              poisonTargets.push(t);
            }
          });
          const base = selectExamples(train, chosen);
          const size = exampleSize(train.inputShape);
          const crafted = new Float32Array(base.inputs.length);
          const steps = trained.map((s) => 1e-3 * parameterNorm(s.model));
          const losses: number[] = [];
          for (let t = 0; t < options.targets; t++) {
            const rows = poisonTargets.flatMap((owner, j) => (owner === t ? [j] : []));
            const x = inputsTensor(base, rows);
            const y = labelsTensor(base, rows);
            const targetX = inputsTensor(targets, [t]);
            const targetY = tf.tensor1d([adversarial[t]], 'int32');
            const surrogates: Surrogate[] = trained.map((s, e) => ({ model: s.model, targetGradient: parameterGradient(s.model, targetX, targetY), h: steps[e] }));
            try {
              const result = brew(surrogates, x, y, { ...options, augment, learningRate }, ctx.rng.fork(`brew:${t}`));
              ctx.logger.debug(`witches-brew: target ${t}, 1 − cos per restart = ${result.restartLosses.map((l) => (l / surrogates.length).toFixed(4)).join(', ')}`);
              rows.forEach((row, j) => crafted.set(result.poisons.subarray(j * size, (j + 1) * size), row * size));
              losses.push(result.loss / surrogates.length);
            } finally {
              tf.dispose([x, y, targetX, targetY, ...surrogates.map((s) => s.targetGradient)]);
            }
            // Per step and surrogate: one parameter gradient and two input gradients over the target's poisons.
            examplesUsed += options.ensemble * (options.restarts * (options.iterations * 3 + 1) * rows.length + 1);
          }
          ctx.logger.debug(`witches-brew: ${k} poisons for ${options.targets} target(s), final 1 − cos = ${losses.map((l) => l.toFixed(3)).join(', ')}`);
          const taken = new Set(chosen);
          const rest = Int32Array.from(Array.from(train.labels.keys()).filter((i) => !taken.has(i)));
          const artifacts = new Artifacts().set(TARGETED_POISON, {
              inputShape: train.inputShape,
              targetInputs: targets.inputs,
              trueLabels: targets.labels,
              adversarialLabels: adversarial,
              poisonTargets: Int32Array.from(poisonTargets),
              baseInputs: base.inputs,
            epsilon: options.epsilon,
          });
          return {
            clean: selectExamples(train, rest),
            poisons: createExamples(crafted, Int32Array.from(base.labels), train.inputShape),
            artifacts,
            examplesUsed,
          };
        } finally {
          for (const s of trained) s.model.dispose();
        }
      },
    };
  },
});
