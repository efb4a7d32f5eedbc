/**
 * Witches' Brew (Geiping et al., ICLR 2021, arXiv 2009.02276): clean-label targeted poisoning by
 * gradient matching. A surrogate is trained on the clean training set; for each target (a test
 * image the surrogate classifies correctly) an adversarial class is drawn, and base training images
 * of that class (labels kept) get ℓ∞-bounded perturbations Δ (‖Δ‖∞ ≤ ε, inputs clipped to [0, 1])
 * that minimise 1 − cos(∇_θ Σ ℓ(x_b + Δ, y_b), ∇_θ ℓ(x_t, y_adv)) by signed gradient steps (step
 * decayed ×0.1 at 3/8, 5/8, 7/8 of the iterations), keeping the best of several random restarts.
 * The perturbed images replace their clean bases (which are in neither S nor P).
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
import { mixedInputGradient, parameterGradient, parameterNorm, trainSurrogate } from '../surrogate.ts';

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
  /** Signed-gradient steps per restart. @default 240 */
  readonly iterations: number;
  /** Random restarts; the one with the lowest alignment loss is kept. @default 8 */
  readonly restarts: number;
  /** Initial step as a fraction of ε. @default 0.1 */
  readonly stepSize: number;
}

/** One brew: perturbed inputs for `base` aligned with `targetGradient`, and the final loss 1 − cos. */
function brew(model: ClassifierModel, base: tf.Tensor, labels: tf.Tensor1D, targetGradient: tf.Tensor1D, options: WitchesBrewOptions, h: number, rng: Rng): { poisons: Float32Array; loss: number } {
  let best: { poisons: Float32Array; loss: number } = { poisons: new Float32Array(0), loss: Number.POSITIVE_INFINITY };
  const { epsilon, iterations } = options;
  const alignment = (inputs: tf.Tensor) =>
    tf.tidy(() => {
      const g = parameterGradient(model, inputs, labels);
      const gNorm = tf.norm(g);
      const tNorm = tf.norm(targetGradient);
      const cos = tf.div(tf.sum(tf.mul(g, targetGradient)), tf.mul(gNorm, tNorm));
      // ∂(1 − cos)/∂g = −(t/(‖g‖‖t‖) − cos·g/‖g‖²)
      const direction = tf.neg(tf.sub(tf.div(targetGradient, tf.mul(gNorm, tNorm)), tf.div(tf.mul(cos, g), tf.square(gNorm)))) as tf.Tensor1D;
      return { loss: tf.sub(1, cos), direction };
    });
  for (let restart = 0; restart < options.restarts; restart++) {
    const start = new Float32Array(base.size);
    const init = rng.fork(`init:${restart}`);
    for (let i = 0; i < start.length; i++) start[i] = (2 * init.next() - 1) * epsilon;
    let delta = tf.tidy(() => tf.sub(tf.clipByValue(tf.add(base, tf.tensor(start, base.shape)), 0, 1), base));
    for (let it = 0; it < iterations; it++) {
      const decay = it >= (7 * iterations) / 8 ? 0.001 : it >= (5 * iterations) / 8 ? 0.01 : it >= (3 * iterations) / 8 ? 0.1 : 1;
      const step = options.stepSize * epsilon * decay;
      const next = tf.tidy(() => {
        const inputs = tf.add(base, delta);
        const { direction } = alignment(inputs);
        const gradient = mixedInputGradient(model, inputs, labels, direction, h);
        const moved = tf.clipByValue(tf.sub(delta, tf.mul(tf.sign(gradient), step)), -epsilon, epsilon);
        return tf.sub(tf.clipByValue(tf.add(base, moved), 0, 1), base);
      });
      delta.dispose();
      delta = next;
    }
    const finalInputs = tf.add(base, delta);
    const loss = tf.tidy(() => alignment(finalInputs).loss.dataSync()[0]);
    if (loss < best.loss) best = { poisons: finalInputs.dataSync().slice() as Float32Array, loss };
    finalInputs.dispose();
    delta.dispose();
  }
  return best;
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
      iterations: { type: 'integer', minimum: 0, default: 240, description: 'Signed-gradient steps per restart.' },
      restarts: { type: 'integer', minimum: 1, default: 8, description: 'Random restarts; the lowest alignment loss is kept.' },
      stepSize: { type: 'number', exclusiveMinimum: 0, default: 0.1, description: 'Initial step as a fraction of ε (decayed ×0.1 at 3/8, 5/8 and 7/8 of the iterations).' },
    },
  },
  create(options, ctx) {
    return {
      poison(input) {
        const { data } = input;
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        const perTarget = Math.floor(k / options.targets);
        if (perTarget < 1 || k >= train.count) throw new RangeError(`cannot split ${k} poisons over ${options.targets} target(s) from ${train.count} training points; choose count in ${options.targets}..${train.count - 1}`);

        const surrogate = trainSurrogate(input, train, ctx, 'witches-brew surrogate');
        let examplesUsed = surrogate.examples;
        try {
          const model = surrogate.model;
          // Targets: test images the surrogate gets right, in random order; adversarial class: any other.
          const predicted = predictClasses(model, data.test);
          const order = ctx.rng.fork('targets').permutation(data.test.count).filter((i) => predicted[i] === data.test.labels[i]);
          if (order.length < options.targets) throw new RangeError(`only ${order.length} test images are classified correctly by the surrogate; choose targets ≤ ${order.length}`);
          const targetIndices = Int32Array.from(order.subarray(0, options.targets));
          const targets = selectExamples(data.test, targetIndices);
          const labelRng = ctx.rng.fork('adversarial-labels');
          const adversarial = Int32Array.from(targets.labels, (y) => (y + 1 + labelRng.int(data.numClasses - 1)) % data.numClasses);

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
          const h = 1e-3 * parameterNorm(model);
          const losses: number[] = [];
          for (let t = 0; t < options.targets; t++) {
            const rows = poisonTargets.flatMap((owner, j) => (owner === t ? [j] : []));
            const x = inputsTensor(base, rows);
            const y = labelsTensor(base, rows);
            const targetX = inputsTensor(targets, [t]);
            const targetY = tf.tensor1d([adversarial[t]], 'int32');
            const targetGradient = parameterGradient(model, targetX, targetY);
            try {
              const result = brew(model, x, y, targetGradient, options, h, ctx.rng.fork(`brew:${t}`));
              rows.forEach((row, j) => crafted.set(result.poisons.subarray(j * size, (j + 1) * size), row * size));
              losses.push(result.loss);
            } finally {
              tf.dispose([x, y, targetX, targetY, targetGradient]);
            }
            // Per step: one parameter gradient and two input gradients over the target's poisons.
            examplesUsed += options.restarts * (options.iterations * 3 + 1) * rows.length + 1;
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
          surrogate.model.dispose();
        }
      },
    };
  },
});
