import * as tf from '@tensorflow/tfjs-core';
import { LABEL_FLIP, accuracy, crossEntropy, inputsTensor, labelsTensor, concatExamples, createBudgetMeter, createRng, silentLogger, trainSgd, type DatasetSplit, type Examples, type ModelFactory, type PluginContext } from '@unlearn-bench/core';
import { createEngine, mlpModel, mnistDataset } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { labelFlipAttack } from '../label-flip/index.ts';
import { cancelGradients, corruptParameters, gradientCancelingAttack, type GradientCancelingOptions } from './index.ts';

const context = (seed: number): PluginContext => ({ rng: createRng(seed), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() });
const training = { epochs: 3, batchSize: 64, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
// The construction before the authors' defaults: label-shifted θp, random label flips, signed steps (finite differences: cheaper).
const previous: GradientCancelingOptions = { count: 30, fraction: 0.03, target: 'label-shift', targetRadius: 0.5, targetFlipFraction: 0.4, init: 'random-flips', optimizer: 'signed', iterations: 10, learningRate: 10, stepSize: 0.02, secondOrder: 'finite-difference', clip: true };
let data: DatasetSplit;
let models: ModelFactory;

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
  data = await mnistDataset.create({ trainSize: 1000, testSize: 300, splitSeed: 0, validationSize: 0 }, context(0)).load();
  models = mlpModel.create({ hidden: [64] }, { inputShape: [28, 28, 1], numClasses: 10 }, context(0));
});

describe('core/gradient-canceling', () => {
  it('lowers ‖Σ_S ∇ℓ(θp) + Σ_P ∇ℓ(θp)‖² at a low-accuracy target model', () => {
    // θp: trained on S with 40% of labels shifted y → y+1. Poisons: 50 points with random wrong labels.
    const shifted = { ...data.train, labels: Int32Array.from(data.train.labels, (y, i) => (i % 5 < 2 ? (y + 1) % 10 : y)) };
    const target = models.build(createRng(3));
    trainSgd(target, shifted, { ...training, rng: createRng(4), meter: createBudgetMeter() });
    const initial = { ...data.train, inputs: data.train.inputs.slice(0, 50 * 784), labels: Int32Array.from(data.train.labels.subarray(0, 50), (y) => (y + 3) % 10), count: 50 };
    const before = tf.memory().numTensors;
    const result = cancelGradients(target, data.train, initial, { iterations: 30, optimizer: 'signed', learningRate: 0, stepSize: 0.02, weightDecay: 0, secondOrder: 'finite-difference', clip: true });
    expect(tf.memory().numTensors).toBe(before);
    target.dispose();
    expect(result.objectives).toHaveLength(31);
    expect(result.best).toBeLessThan(0.9 * result.objectives[0]); // measured (mean-scaled objective, before the summed form): 0.940 → 0.743 (−21%) in 30 steps
    expect(result.poisons.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('starts from random label flips (0 iterations = core/label-flip), keeps labels wrong, leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const crafted = await gradientCancelingAttack.create(previous, context(7)).poison({ data, models, training });
    expect(tf.memory().numTensors).toBe(before);
    const unoptimised = await gradientCancelingAttack.create({ ...previous, iterations: 0 }, context(7)).poison({ data, models, training });
    const flips = await labelFlipAttack.create({ mode: 'random', count: 30, fraction: 0.05, sourceClass: 0, targetClass: 1 }, context(7)).poison({ data, models, training });
    expect(unoptimised.poisons.inputs).toEqual(flips.poisons.inputs);
    expect(unoptimised.poisons.labels).toEqual(flips.poisons.labels);
    expect(crafted.poisons.labels).toEqual(flips.poisons.labels);
    expect(crafted.poisons.inputs).not.toEqual(flips.poisons.inputs);
    const { originalLabels } = crafted.artifacts.get(LABEL_FLIP)!;
    originalLabels.forEach((y, i) => expect(crafted.poisons.labels[i]).not.toBe(y));
    expect(crafted.clean.count).toBe(970);
    // target model (3 epochs on 970) + one pass over S + 11 objective evaluations and 10 × 2 input gradients over 30 poisons
    expect(crafted.examplesUsed).toBe(3 * 970 + 970 + 11 * 30 + 10 * 2 * 30);
  });

  it("by default starts from the first k training points with their true labels (the authors') and keeps those labels", async () => {
    const schemaDefaults = Object.fromEntries(Object.entries(gradientCancelingAttack.optionsSchema.properties).map(([key, p]) => [key, (p as { default: unknown }).default])) as unknown as GradientCancelingOptions;
    expect(schemaDefaults).toMatchObject({ target: 'gradpc', init: 'true-labels', optimizer: 'gradient', iterations: 1000, secondOrder: 'exact', clip: false });
    const options = { ...schemaDefaults, count: 30, iterations: 3 };
    const before = tf.memory().numTensors;
    const crafted = await gradientCancelingAttack.create(options, context(7)).poison({ data, models, training });
    expect(tf.memory().numTensors).toBe(before);
    expect(crafted.poisons.labels).toEqual(data.train.labels.subarray(0, 30));
    expect(crafted.artifacts.get(LABEL_FLIP)!.originalLabels).toEqual(crafted.poisons.labels);
    expect(crafted.poisons.inputs).not.toEqual(data.train.inputs.subarray(0, 30 * 784));
    expect(crafted.clean.count).toBe(970);
    expect(crafted.clean.inputs).toEqual(data.train.inputs.subarray(30 * 784));
  });

  it('GradPC moves the clean model by the radius, uphill on the training loss', () => {
    const model = models.build(createRng(8));
    trainSgd(model, data.train, { ...training, rng: createRng(9), meter: createBudgetMeter() });
    const loss = () => tf.tidy(() => crossEntropy(model.logits(inputsTensor(data.train)), labelsTensor(data.train)).dataSync()[0]);
    const clean = model.getWeights();
    const cleanLoss = loss();
    corruptParameters(model, data.train, { radius: 0.5, batchSize: 64, learningRate: 1, rng: createRng(10) });
    const distance = Math.sqrt(model.getWeights().reduce((sum, w, i) => sum + w.reduce((s, v, j) => s + (v - clean[i][j]) ** 2, 0), 0));
    expect(distance).toBeCloseTo(0.5, 4);
    expect(loss()).toBeGreaterThan(cleanLoss + 0.1);
    model.dispose();
  });

  it('costs a softmax-regression victim trained from scratch more accuracy than as many random label flips', async () => {
    // The paper's setting is a convex victim: 4,000 MNIST digits, softmax regression (mlp with no hidden
    // layer), 10 epochs; 120 poisons (3%) with the default options (θp: 15% of labels shifted; 400
    // signed steps). Victims are initialised and ordered by their own seeds, not the target model's.
    const mnist = await mnistDataset.create({ trainSize: 4000, testSize: 1000, splitSeed: 0, validationSize: 0 }, context(0)).load();
    const linear = mlpModel.create({ hidden: [] }, { inputShape: [28, 28, 1], numClasses: 10 }, context(0));
    const recipe = { epochs: 10, batchSize: 64, learningRate: 0.05, momentum: 0.9, weightDecay: 0 };
    const victim = (examples: Examples, seed: number) => {
      const model = linear.build(createRng(100 + seed));
      trainSgd(model, examples, { ...recipe, rng: createRng(101 + seed), meter: createBudgetMeter() });
      const value = accuracy(model, mnist.test);
      model.dispose();
      return value;
    };
    const drops = { canceling: [] as number[], flips: [] as number[] };
    for (const seed of [1, 2, 3, 4]) {
      const input = { data: mnist, models: linear, training: recipe };
      const crafted = await gradientCancelingAttack.create({ ...previous, count: 120, targetFlipFraction: 0.15, iterations: 400, stepSize: 0.1 }, context(seed)).poison(input);
      const flips = await labelFlipAttack.create({ mode: 'random', count: 120, fraction: 0.03, sourceClass: 0, targetClass: 1 }, context(seed)).poison(input);
      const clean = victim(flips.clean, seed);
      const canceling = victim(concatExamples(crafted.clean, crafted.poisons), seed);
      const flipped = victim(concatExamples(flips.clean, flips.poisons), seed);
      expect(canceling).toBeLessThan(flipped - 0.008);
      drops.canceling.push(clean - canceling);
      drops.flips.push(clean - flipped);
    }
    // Measured accuracy (clean / random flips / gradient canceling), seeds 1–4:
    //   0.909 / 0.895 / 0.880, 0.912 / 0.893 / 0.871, 0.905 / 0.896 / 0.881, 0.906 / 0.898 / 0.875
    // i.e. mean drops of 3.1 vs 1.25 points (seeds 5–8, checked once: 3.6 vs 1.0). On an MLP [256] the
    // same attack is no stronger than the flips.
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(drops.canceling)).toBeGreaterThan(1.8 * mean(drops.flips));
  }, 300_000);
});
