import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureManifest, fixtureRegistry } from '../tests/fixture-plugin.ts';
import { createBudgetMeter } from './budget.ts';
import type { ClassifierModel } from './model.ts';
import { createOptimizer, scheduledLearningRate, type OptimizerRecipe } from './optimizers.ts';
import { createExamples, planCells, validateManifest } from './index.ts';
import { createRng } from './rng.ts';
import { createTestContext, linearModel } from './testing/index.ts';
import type { ModelFactory } from './plugin/types.ts';
import { crossEntropy, trainSgd } from './training.ts';
import type { TrainingRecipe } from './plugin/types.ts';

/** Softmax regression on 8 features, 4 classes, the same initial weights every call. */
const exampleModel = (): ClassifierModel => (linearModel.create({}, { inputShape: [8], numClasses: 4 }, createTestContext(0)) as ModelFactory).build(createRng(5));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SGD: OptimizerRecipe = { learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
const W0 = [1, -2];
const G1 = [0.5, 1];
const G2 = [-1, 2];

/** Runs `grads` through a fresh optimizer on one variable starting at W0; returns the weights after each step. */
function run(recipe: OptimizerRecipe, grads: number[][]): number[][] {
  const w = tf.tidy(() => tf.variable(tf.tensor1d(W0), true, `opt-test-${Math.random()}`));
  const optimizer = createOptimizer(recipe, [w], { stepsPerEpoch: 1 });
  const out: number[][] = [];
  for (const g of grads) {
    const gradient = tf.tensor1d(g);
    optimizer.step({ [w.name]: gradient });
    gradient.dispose();
    out.push(Array.from(w.dataSync()));
  }
  optimizer.dispose();
  w.dispose();
  return out;
}

function close(actual: number[][], expected: number[][], digits = 6): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], digits)));
}

describe('SGD (torch.optim.SGD)', () => {
  it('momentum: b ← μb + g, w ← w − ηb (hand-computed)', () => {
    // b1 = g1 → w1 = [0.95, −2.1]; b2 = 0.9·g1 + g2 = [−0.55, 2.9] → w2 = [1.005, −2.39].
    close(run(SGD, [G1, G2]), [[0.95, -2.1], [1.005, -2.39]]);
  });

  it('Nesterov: w ← w − η(g + μb) (hand-computed)', () => {
    // step 1: g + 0.9·g1 = 1.9·g1 → [0.905, −2.19]; step 2: b = [−0.55, 2.9], g2 + 0.9b = [−1.495, 4.61] → [1.0545, −2.651].
    close(run({ ...SGD, nesterov: true }, [G1, G2]), [[0.905, -2.19], [1.0545, -2.651]]);
  });

  it('coupled weight decay enters the momentum buffer, decoupled does not', () => {
    const recipe = { ...SGD, weightDecay: 0.5 };
    // coupled: g' = g + 0.5w. step 1: g' = [1, 0] → w1 = [0.9, −2], b1 = [1, 0];
    // step 2: g' = [−1 + 0.45, 2 − 1] = [−0.55, 1], b2 = [0.9 − 0.55, 1] = [0.35, 1] → w2 = [0.865, −2.1].
    close(run(recipe, [G1, G2]), [[0.9, -2], [0.865, -2.1]]);
    // decoupled: w ← w(1 − 0.1·0.5) − 0.1·b with b from g alone.
    // step 1: [0.95, −1.9] − 0.1·[0.5, 1] = [0.9, −2.0]; step 2: b = [−0.55, 2.9]; [0.855, −1.9] − [−0.055, 0.29] = [0.91, −2.19].
    close(run({ ...recipe, decoupledWeightDecay: true }, [G1, G2]), [[0.9, -2], [0.91, -2.19]]);
  });

  it('the default recipe is bit-identical to the loop it replaced (velocity from zeros, coupled L2)', () => {
    const recipe = { ...SGD, weightDecay: 0.01 };
    const w = tf.tidy(() => tf.variable(tf.tensor1d(W0), true, 'opt-test-old-a'));
    const reference = tf.tidy(() => tf.variable(tf.tensor1d(W0), true, 'opt-test-old-b'));
    const optimizer = createOptimizer(recipe, [w]);
    let velocity: tf.Tensor = tf.zerosLike(reference);
    for (const g of [G1, G2, G1, [3, -0.25]]) {
      const gradient = tf.tensor1d(g);
      optimizer.step({ [w.name]: gradient });
      tf.tidy(() => {
        const gw = tf.add(gradient, tf.mul(reference, recipe.weightDecay));
        const v = tf.add(tf.mul(velocity, recipe.momentum), gw);
        velocity.dispose();
        velocity = tf.keep(v);
        reference.assign(tf.sub(reference, tf.mul(v, recipe.learningRate)));
      });
      gradient.dispose();
    }
    expect(Array.from(w.dataSync())).toEqual(Array.from(reference.dataSync()));
    tf.dispose([w, reference, velocity]);
    optimizer.dispose();
  });

  it('update noise is added to the step, not to the momentum buffer', () => {
    const w = tf.tidy(() => tf.variable(tf.tensor1d(W0), true, 'opt-test-noise'));
    const optimizer = createOptimizer(SGD, [w]);
    const noise = [0.25, -0.5];
    for (const g of [G1, G2]) {
      tf.tidy(() => optimizer.step({ [w.name]: tf.tensor1d(g) }, { updateNoise: { [w.name]: tf.tensor1d(noise) } }));
    }
    // buffer holds gradients only: b2 = [−0.55, 2.9]; w2 = W0 − 0.1(g1 + ξ) − 0.1(b2 + ξ).
    const state = optimizer.state()[`${w.name}/momentum`];
    expect(Array.from(state)[0]).toBeCloseTo(-0.55, 6);
    expect(Array.from(state)[1]).toBeCloseTo(2.9, 6);
    close([Array.from(w.dataSync())], [[1 - 0.1 * 0.75 - 0.1 * -0.3, -2 - 0.1 * 0.5 - 0.1 * 2.4]]);
    optimizer.dispose();
    w.dispose();
  });
});

describe('Adam and AdamW (torch.optim.Adam / AdamW)', () => {
  // A large eps makes its placement visible: PyTorch adds it to √v̂ (after bias correction).
  const ADAM: OptimizerRecipe = { learningRate: 0.1, momentum: 0, weightDecay: 0, optimizer: 'adam', eps: 0.5, betas: [0.9, 0.99] };

  it('first step: m̂ = g, v̂ = g², w ← w − lr·g/(|g| + eps)', () => {
    // g1 = [0.5, 1]: 0.1·0.5/1.0 = 0.05, 0.1·1/1.5 = 0.0666…
    close(run(ADAM, [G1]), [[1 - 0.05, -2 - 0.1 / 1.5]]);
  });

  it('second step with bias correction, computed by hand', () => {
    const expected = W0.map((w0, j) => {
      const [b1, b2] = [0.9, 0.99];
      let w = w0;
      let m = 0;
      let v = 0;
      [G1, G2].forEach((g, k) => {
        m = b1 * m + (1 - b1) * g[j];
        v = b2 * v + (1 - b2) * g[j] ** 2;
        const mHat = m / (1 - b1 ** (k + 1));
        const vHat = v / (1 - b2 ** (k + 1));
        w -= (0.1 * mHat) / (Math.sqrt(vHat) + 0.5);
      });
      return w;
    });
    close([run(ADAM, [G1, G2])[1]], [expected]);
  });

  it('adam couples weight decay (g + λw), adamw decouples it (w(1 − lr·λ))', () => {
    // adam, λ = 0.5: g' = g1 + 0.5·W0 = [1, 0] → w ← W0 − 0.1·[1/1.5, 0] .
    close(run({ ...ADAM, weightDecay: 0.5 }, [G1]), [[1 - 0.1 / 1.5, -2]]);
    // adamw: W0·(1 − 0.05) − 0.1·g/(|g| + 0.5) = [0.95 − 0.05, −1.9 − 0.0666…].
    close(run({ ...ADAM, optimizer: 'adamw', weightDecay: 0.5 }, [G1]), [[0.9, -1.9 - 0.1 / 1.5]]);
  });

  it('keeps its moments across calls and frees them on dispose', () => {
    const before = tf.memory().numTensors;
    const w = tf.tidy(() => tf.variable(tf.tensor1d(W0), true, 'opt-test-adam-state'));
    const optimizer = createOptimizer(ADAM, [w]);
    tf.tidy(() => optimizer.step({ [w.name]: tf.tensor1d(G1) }));
    tf.tidy(() => optimizer.step({ [w.name]: tf.tensor1d(G2) }));
    const state = optimizer.state();
    expect(Array.from(state[`${w.name}/exp_avg`])[0]).toBeCloseTo(0.9 * 0.05 + 0.1 * -1, 6);
    expect(Array.from(state[`${w.name}/exp_avg_sq`])[1]).toBeCloseTo(0.99 * 0.01 + 0.01 * 4, 6);
    expect(tf.memory().numTensors).toBe(before + 1 + 2);
    optimizer.dispose();
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('learning-rate schedules', () => {
  const lrs = (schedule: Parameters<typeof scheduledLearningRate>[1], n: number, horizon = {}) =>
    Array.from({ length: n }, (_, t) => scheduledLearningRate(1, schedule, t, horizon));

  it('constant, step (StepLR), multistep (MultiStepLR)', () => {
    expect(lrs({ type: 'constant', unit: 'step' }, 3)).toEqual([1, 1, 1]);
    expect(lrs({ type: 'step', unit: 'step', stepSize: 2, gamma: 0.5 }, 5)).toEqual([1, 1, 0.5, 0.5, 0.25]);
    close([lrs({ type: 'multistep', unit: 'step', milestones: [2, 3] }, 5)], [[1, 1, 0.1, 0.01, 0.01]], 12);
  });

  it('cosine to a floor (CosineAnnealingLR), then the floor; default length from the run', () => {
    const expected = [0, 1, 2, 3, 4, 5].map((t) => (t >= 4 ? 0.1 : 0.1 + (0.9 * (1 + Math.cos((Math.PI * t) / 4))) / 2));
    close([lrs({ type: 'cosine', unit: 'step', length: 4, minLearningRate: 0.1 }, 6)], [expected], 12);
    close([lrs({ type: 'cosine', unit: 'step', minLearningRate: 0.1 }, 6, { totalSteps: 4 })], [expected], 12);
    expect(() => scheduledLearningRate(1, { type: 'cosine', unit: 'step' }, 0)).toThrow(/cosine schedule without "length"/);
  });

  it('linear warm-up (LinearLR) in front, the main schedule starting when it ends', () => {
    // warm-up 2 from 0.5: 0.5, 0.75; then StepLR(2, 0.5) from its own t = 0.
    expect(lrs({ type: 'step', unit: 'step', stepSize: 2, gamma: 0.5, warmup: 2, warmupStartFactor: 0.5 }, 6)).toEqual([0.5, 0.75, 1, 1, 0.5, 0.5]);
    close([lrs({ type: 'constant', unit: 'step', warmup: 3 }, 4)], [[1 / 3, 1 / 3 + (2 / 3) / 3, 1 / 3 + (4 / 3) / 3, 1]], 12);
  });

  it('epoch units change the rate at epoch boundaries only', () => {
    expect(lrs({ type: 'step', stepSize: 1, gamma: 0.5 }, 7, { stepsPerEpoch: 3 })).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.25]);
    expect(() => createOptimizer({ ...SGD, schedule: { type: 'step', stepSize: 1 } }, [])).toThrow(/steps per epoch/);
  });

  it('the optimizer steps with the scheduled rate and a method’s factor', () => {
    const steps = run({ learningRate: 1, momentum: 0, weightDecay: 0, schedule: { type: 'step', unit: 'step', stepSize: 1, gamma: 0.5 } }, [[1, 1], [1, 1], [1, 1]]);
    close(steps.map((w) => [w[0]]), [[0], [-0.5], [-0.75]]);
  });
});

describe('trainSgd with a shared optimizer', () => {
  const examples = () => {
    const rng = createRng(3);
    const labels = Int32Array.from({ length: 32 }, (_, i) => i % 4);
    const inputs = rng.normalArray(32 * 8, 1);
    for (let i = 0; i < 32; i++) inputs[i * 8 + labels[i]] += 2;
    return { inputs, labels, inputShape: [8], count: 32 } as const;
  };
  const recipe: TrainingRecipe = { epochs: 1, batchSize: 32, learningRate: 0.2, momentum: 0.9, weightDecay: 0 };
  const train = (model: ReturnType<typeof exampleModel>, epochs: number, shared?: ReturnType<typeof createOptimizer>) =>
    trainSgd(model, examples() as never, { ...recipe, epochs, rng: createRng(1), meter: createBudgetMeter(), sharedOptimizer: shared });

  it('two passes with one optimizer equal one two-epoch run; fresh optimizers differ', () => {
    const whole = exampleModel();
    train(whole, 2);
    const shared = exampleModel();
    const optimizer = createOptimizer(recipe, shared.parameters());
    train(shared, 1, optimizer);
    train(shared, 1, optimizer);
    expect(optimizer.steps).toBe(2);
    const restarted = exampleModel();
    train(restarted, 1);
    train(restarted, 1);
    const [a, b, c] = [whole, shared, restarted].map((m) => m.getWeights()[0]);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 6);
    expect(Math.max(...Array.from(a, (v, i) => Math.abs(v - c[i])))).toBeGreaterThan(1e-3);
    optimizer.dispose();
    [whole, shared, restarted].forEach((m) => m.dispose());
  });

  it('leaks no tensors with adam, a schedule and update noise', () => {
    const model = exampleModel();
    const before = tf.memory().numTensors;
    trainSgd(model, examples() as never, {
      ...recipe,
      batchSize: 8,
      epochs: 3,
      optimizer: 'adamw',
      weightDecay: 0.01,
      schedule: { type: 'cosine', warmup: 1 },
      rng: createRng(1),
      meter: createBudgetMeter(),
      updateNoise: (variables) => Object.fromEntries(variables.map((v) => [v.name, tf.zerosLike(v)])),
      loss: (m, x, y) => crossEntropy(m.logits(x), y),
    });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('manifest training fields', () => {
  const registry = fixtureRegistry;
  const manifest = fixtureManifest;

  it('an existing manifest resolves to the same training and group key as before the optimizer fields', () => {
    const experiment = validateManifest(manifest({ epochs: 10, batchSize: 64, learningRate: 0.01, momentum: 0.9 }), registry());
    expect(experiment.resolved.training).toEqual({ epochs: 10, batchSize: 64, learningRate: 0.01, momentum: 0.9, weightDecay: 0 });
    // The key computed by the code before this change (same fixture, same manifest).
    expect(planCells(experiment, 'cpu')[0].key).toBe('seed=1/attack=fx/flip#f2e0ff3ecfd1');
  });

  it('accepts the new fields and rejects contradictory ones with the manifest path', () => {
    const ok = validateManifest(manifest({ epochs: 2, batchSize: 8, learningRate: 0.001, optimizer: 'adamw', weightDecay: 0.01, betas: [0.9, 0.95], schedule: { type: 'cosine', warmup: 1 } }), registry());
    expect(ok.training.schedule).toEqual({ type: 'cosine', unit: 'epoch', warmup: 1 });
    expect(() => validateManifest(manifest({ epochs: 2, batchSize: 8, learningRate: 0.1, optimizer: 'adam', nesterov: true }), registry())).toThrow(/training\.nesterov.*'sgd' only/s);
    expect(() => validateManifest(manifest({ epochs: 2, batchSize: 8, learningRate: 0.1, schedule: { type: 'cosine', stepSize: 3 } }), registry())).toThrow(/training\.schedule\.stepSize.*does not apply to a 'cosine' schedule/s);
    expect(() => validateManifest(manifest({ epochs: 2, batchSize: 8, learningRate: 0.1, schedule: { type: 'step' } }), registry())).toThrow(/needs "stepSize"/);
  });
});

describe('gradient accumulation (microBatchSize)', () => {
  it('gives the whole batch’s updates with micro-batches of 3 (of 8, so one of 2), counts every example, and leaks nothing', () => {
    const rng = createRng(4);
    const examples = createExamples(rng.normalArray(20 * 8), Int32Array.from({ length: 20 }, () => rng.int(4)), [8]);
    const recipe: TrainingRecipe = { epochs: 2, batchSize: 8, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, optimizer: 'adamw' };
    const train = (microBatchSize?: number) => {
      const model = exampleModel();
      const meter = createBudgetMeter();
      const report = trainSgd(model, examples, { ...recipe, microBatchSize, rng: createRng(9), meter });
      const weights = model.getWeights();
      model.dispose();
      return { weights, report, spent: meter.used };
    };
    const whole = train();
    const before = tf.memory().numTensors;
    const accumulated = train(3);
    expect(tf.memory().numTensors).toBe(before);
    expect(accumulated.spent).toBe(whole.spent);
    expect(accumulated.report.steps).toBe(whole.report.steps);
    expect(accumulated.report.finalLoss).toBeCloseTo(whole.report.finalLoss, 5);
    accumulated.weights.forEach((w, i) => w.forEach((v, j) => expect(v).toBeCloseTo(whole.weights[i][j], 5)));
    expect(train(8).weights).toEqual(whole.weights);
  });
});
