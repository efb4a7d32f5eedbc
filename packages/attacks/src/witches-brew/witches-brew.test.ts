import * as tf from '@tensorflow/tfjs-core';
import { TARGETED_POISON, concatExamples, createBudgetMeter, createExamples, createRng, perExampleLoss, predictClasses, silentLogger, trainSgd, type DatasetSplit, type Examples, type ModelFactory, type PluginContext } from '@unlearn-bench/core';
import { createEngine, mlpModel, mnistDataset } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialPerturbation, stepDecay, translate, witchesBrewAttack, type WitchesBrewOptions } from './index.ts';

const training = { epochs: 3, batchSize: 64, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
// The cheaper settings the tests brew with (the previous defaults: uniform start, 0.1ε steps, finite differences, no augmentation).
const defaults: WitchesBrewOptions = { count: 20, fraction: 0.01, targets: 2, epsilon: 16 / 255, iterations: 30, restarts: 1, stepSize: 0.1, init: 'uniform', secondOrder: 'finite-difference', optimizer: 'signed-adam', augment: 0, ensemble: 1, adversarialClass: 'random', targetSelection: 'random-correct' };
let data: DatasetSplit;
let models: ModelFactory;

/** Runs the attack and returns its result and the final alignment losses 1 − cos it logged (and all it logged). */
async function brew(options: Partial<WitchesBrewOptions>, seed = 1, on: { data: DatasetSplit; models: ModelFactory; training: typeof training } = { data, models, training }, messages: string[] = []) {
  const ctx: PluginContext = { rng: createRng(seed), logger: { ...silentLogger, debug: (m: string) => messages.push(m) }, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
  const result = await witchesBrewAttack.create({ ...defaults, ...options }, ctx).poison(on);
  const losses = messages.join('\n').match(/final 1 − cos = (.*)/)![1].split(', ').map(Number);
  return { result, losses };
}

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
  data = await mnistDataset.create({ trainSize: 1000, testSize: 300, splitSeed: 0, validationSize: 0 }, { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() }).load();
  models = mlpModel.create({ hidden: [64] }, { inputShape: [28, 28, 1], numClasses: 10 }, { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() });
});

describe('core/witches-brew', () => {
  it('perturbs adversarial-class images within the ε ball and [0, 1], keeps their labels, records the targets', async () => {
    const before = tf.memory().numTensors;
    const { result } = await brew({});
    expect(tf.memory().numTensors).toBe(before);
    const record = result.artifacts.get(TARGETED_POISON)!;
    expect(result.poisons.count).toBe(20);
    expect(result.clean.count).toBe(980);
    expect([...record.poisonTargets]).toEqual([...Array(10).fill(0), ...Array(10).fill(1)]);
    record.adversarialLabels.forEach((adv, t) => expect(adv).not.toBe(record.trueLabels[t]));
    let moved = 0;
    result.poisons.inputs.forEach((v, i) => {
      const change = Math.abs(v - record.baseInputs[i]);
      expect(change).toBeLessThanOrEqual(16 / 255 + 1e-6);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      if (change > 1e-6) moved++;
    });
    expect(moved).toBeGreaterThan(result.poisons.inputs.length / 20);
    result.poisons.labels.forEach((y, j) => expect(y).toBe(record.adversarialLabels[record.poisonTargets[j]]));
    expect(result.examplesUsed).toBe(3 * 1000 + 2 * ((30 * 3 + 1) * 10 + 1));
  });

  it('aligns the poison gradient with the adversarial target gradient (1 − cos falls by over 15% in 30 steps), reproducibly per seed', async () => {
    const start = (await brew({ iterations: 0 })).losses;
    const brewed = await brew({ iterations: 30 });
    const end = brewed.losses;
    // and the same seed brews the same poisons
    expect((await brew({ iterations: 30 })).result.poisons.inputs).toEqual(brewed.result.poisons.inputs);
    start.forEach((loss, t) => expect(end[t]).toBeLessThan(0.85 * loss)); // measured 0.488 → 0.380, 0.483 → 0.383 (signed Adam)
  });

  it('moves an independently trained model towards the adversarial labels more than the clean bases do', async () => {
    // Mechanism check with random targets and adversarial classes (the paper's setting, which does not
    // succeed from scratch at this scale; see the README): a model trained on clean data with its own
    // seed, fine-tuned on the poisons alone, loses more adversarial loss on the targets than the same
    // model fine-tuned on the unperturbed bases (same labels).
    const { result } = await brew({ count: 40, targets: 4, iterations: 40 }, 2);
    const record = result.artifacts.get(TARGETED_POISON)!;
    const adversarialTargets = createExamples(record.targetInputs, record.adversarialLabels, record.inputShape);
    const bases = createExamples(record.baseInputs, result.poisons.labels, result.poisons.inputShape);
    const drop = (fineTune: typeof bases) => {
      const model = models.build(createRng(77));
      trainSgd(model, data.train, { ...training, rng: createRng(78), meter: createBudgetMeter() });
      const before = perExampleLoss(model, adversarialTargets);
      trainSgd(model, fineTune, { ...training, rng: createRng(79), meter: createBudgetMeter() });
      const after = perExampleLoss(model, adversarialTargets);
      model.dispose();
      return before.reduce((sum, v, i) => sum + v - after[i], 0) / before.length;
    };
    const poisonDrop = drop(result.poisons);
    const baseDrop = drop(bases);
    // measured 0.73 vs 0.54 (brew seed 2, signed Adam)
    expect(poisonDrop).toBeGreaterThan(baseDrop + 0.05);
  });

  it('makes a victim trained from scratch on clean ∪ poisons predict the adversarial label for more targets than a clean-trained victim', async () => {
    // 2,000 MNIST digits, MLP [128], 8 epochs; one target per seed with 100 poisons (5%), ensemble of 2
    // surrogates, signed Adam for 120 steps, low-margin targets with the runner-up class as the
    // adversarial label. Each victim is initialised and ordered by its own seed (not the surrogates').
    const small = await mnistDataset.create({ trainSize: 2000, testSize: 500, splitSeed: 0, validationSize: 0 }, { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() }).load();
    const mlp = mlpModel.create({ hidden: [128] }, { inputShape: [28, 28, 1], numClasses: 10 }, { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() });
    const recipe = { ...training, epochs: 8 };
    const options: Partial<WitchesBrewOptions> = { count: 100, targets: 1, iterations: 120, restarts: 1, ensemble: 2, adversarialClass: 'runner-up', targetSelection: 'low-margin' };
    const hits = { poisoned: 0, clean: 0, unbrewed: 0 };
    const loss = { poisoned: 0, clean: 0, unbrewed: 0 };
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
    const victimSeed = 10_000;
    for (const seed of seeds) {
      const on = { data: small, models: mlp, training: recipe };
      const { result } = await brew(options, seed, on);
      const record = result.artifacts.get(TARGETED_POISON)!;
      // Control: the same bases with only the random start inside the ε ball (no gradient matching): the
      // attack's restart-0 start of target 0, rebuilt from the same seed path (= iterations: 0).
      const start = initialPerturbation(record.baseInputs.length, 16 / 255, 'uniform', createRng(seed).fork('brew:0').fork('init:0'));
      const unbrewed = { clean: result.clean, poisons: createExamples(Float32Array.from(record.baseInputs, (v, i) => Math.min(1, Math.max(0, v + start[i]))), result.poisons.labels, record.inputShape) };
      const target = createExamples(record.targetInputs, record.adversarialLabels, record.inputShape);
      const victim = (name: keyof typeof hits, examples: Examples) => {
        const model = mlp.build(createRng(victimSeed + seed));
        trainSgd(model, examples, { ...recipe, rng: createRng(victimSeed + 10_000 + seed), meter: createBudgetMeter() });
        hits[name] += predictClasses(model, target)[0] === record.adversarialLabels[0] ? 1 : 0;
        loss[name] += perExampleLoss(model, target)[0] / seeds.length;
        model.dispose();
      };
      victim('poisoned', concatExamples(result.clean, result.poisons));
      victim('clean', result.clean);
      victim('unbrewed', concatExamples(unbrewed.clean, unbrewed.poisons));
    }
    // Measured (targets flipped poisoned / clean / unbrewed of 8; mean adversarial loss on the targets):
    //   brew seeds 1–8, victim seeds 10 001–10 008:  6 / 1 / 3; 0.75 / 1.60 / 1.25
    //   brew seeds 1–8, victim seeds 30 001–30 008:  7 / 0 / 2; 0.69 / 1.76 / 1.22
    //   brew seeds 11–18, victim seeds 10 011–10 018: 5 / 0 / 3; 0.64 / 1.81 / 1.31
    // The unbrewed control shows that ε-noise on 100 adversarial-class images alone flips some of these
    // low-margin targets; gradient matching adds to that.
    expect(hits.clean).toBeLessThanOrEqual(1);
    expect(hits.poisoned).toBeGreaterThanOrEqual(hits.clean + 3);
    expect(hits.poisoned).toBeGreaterThanOrEqual(hits.unbrewed + 1);
    expect(loss.poisoned).toBeLessThan(loss.unbrewed - 0.3);
  }, 240_000);

  it('augments by translations whose adjoint is the opposite translation, and counts every surrogate', async () => {
    const x = tf.tensor(createRng(5).normalArray(2 * 5 * 6), [2, 5, 6, 1]);
    const y = tf.tensor(createRng(6).normalArray(2 * 5 * 6), [2, 5, 6, 1]);
    const shifts = [[1, -2], [-1, 0]] as const;
    const moved = translate(x, shifts, 2);
    expect([...moved.dataSync()].slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]); // row 0 of image 0 is filled
    expect(moved.dataSync()[6]).toBeCloseTo(x.dataSync()[2]); // out[1, 0] = x[0, 2]
    const back = translate(y, shifts.map(([dy, dx]) => [-dy, -dx] as const), 2);
    expect(tf.sum(tf.mul(moved, y)).dataSync()[0]).toBeCloseTo(tf.sum(tf.mul(x, back)).dataSync()[0], 4);
    tf.dispose([x, y, moved, back]);

    const before = tf.memory().numTensors;
    const { result, losses } = await brew({ augment: 2, ensemble: 2, iterations: 6 });
    expect(tf.memory().numTensors).toBe(before);
    const record = result.artifacts.get(TARGETED_POISON)!;
    result.poisons.inputs.forEach((v, i) => expect(Math.abs(v - record.baseInputs[i])).toBeLessThanOrEqual(16 / 255 + 1e-6));
    losses.forEach((loss) => expect(loss).toBeLessThan(1));
    expect(result.examplesUsed).toBe(2 * 3 * 1000 + 2 * 2 * ((6 * 3 + 1) * 10 + 1));
  });

  it("starts each restart from ε·N(0, 1) clipped to the ε ball (the original's randn initialisation)", () => {
    const epsilon = Math.fround(16 / 255);
    const start = initialPerturbation(20_000, 16 / 255, 'randn', createRng(3));
    expect(start.every((v) => Math.abs(v) <= epsilon)).toBe(true);
    const atBound = start.filter((v) => Math.abs(v) === epsilon).length / start.length;
    expect(atBound).toBeGreaterThan(0.3); // P(|z| > 1) = 0.3173 for z ~ N(0, 1)
    expect(atBound).toBeLessThan(0.335);
    const inside = start.filter((v) => Math.abs(v) < epsilon);
    const meanSquare = inside.reduce((sum, v) => sum + v * v, 0) / inside.length / epsilon ** 2;
    expect(meanSquare).toBeCloseTo(0.2911, 1); // E[z² | |z| < 1] = 1 − 2φ(1)/(2Φ(1) − 1) = 0.2911
    const uniform = initialPerturbation(20_000, 16 / 255, 'uniform', createRng(3));
    expect(uniform.filter((v) => Math.abs(v) === epsilon).length).toBe(0);
  });

  it("takes signed-Adam steps of 0.1·σ/ensemble by default (the original's τ·(pbatch/512)/ensemble in normalised units), decayed at the original's milestones", async () => {
    let sum = 0;
    let squares = 0;
    for (const v of data.train.inputs) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / data.train.inputs.length;
    const sigma = Math.sqrt(squares / data.train.inputs.length - mean * mean); // 0.31 on MNIST
    for (const ensemble of [2]) {
      // ε = 1 so that the ε ball never binds: the step does not depend on ε.
      const options = { targets: 1, count: 10, epsilon: 1, stepSize: null, init: 'randn', ensemble } as const;
      const start = (await brew({ ...options, iterations: 0 })).result.poisons.inputs;
      const moved = (await brew({ ...options, iterations: 1 })).result.poisons.inputs;
      // Pixels away from [0, 1]'s bounds move by exactly one learning rate (Adam's first step on a sign is
      // ±lr), times 0.001: with one iteration all three milestones ⌊1/2.667⌋ = ⌊1/1.6⌋ = ⌊1/1.142⌋ = 0 have passed.
      const steps = Array.from(moved, (v, i) => Math.abs(v - start[i])).filter((d, i) => start[i] > 0.15 && start[i] < 0.85 && d > 1e-6);
      expect(steps.length).toBeGreaterThan(100);
      for (const d of steps) expect(d).toBeCloseTo(((0.1 * sigma) / ensemble) * 0.001, 6);
    }
    // torch MultiStepLR milestones ⌊250/2.667⌋ = 93, ⌊250/1.6⌋ = 156, ⌊250/1.142⌋ = 218
    expect([0, 92, 93, 155, 156, 217, 218, 249].map((it) => stepDecay(it, 250))).toEqual([1, 1, 0.1, 0.1, 0.1 ** 2, 0.1 ** 2, 0.1 ** 3, 0.1 ** 3]);
  });

  it('starts from the clipped random start (iterations: 0), which the success test rebuilds from the seed', async () => {
    const { result } = await brew({ targets: 1, count: 10, iterations: 0 }, 3);
    const record = result.artifacts.get(TARGETED_POISON)!;
    const start = initialPerturbation(record.baseInputs.length, 16 / 255, 'uniform', createRng(3).fork('brew:0').fork('init:0'));
    result.poisons.inputs.forEach((v, i) => expect(v).toBeCloseTo(Math.min(1, Math.max(0, record.baseInputs[i] + start[i])), 6));
  });

  it('keeps the restart with the lowest alignment loss', async () => {
    const messages: string[] = [];
    const { losses } = await brew({ targets: 1, count: 10, iterations: 5, restarts: 3 }, 4, undefined, messages);
    const perRestart = messages.join('\n').match(/1 − cos per restart = (.*)/)![1].split(', ').map(Number);
    expect(perRestart).toHaveLength(3);
    expect(new Set(perRestart).size).toBe(3);
    expect(losses[0]).toBeCloseTo(Math.min(...perRestart), 3);
  });

  it('rejects a budget smaller than the number of targets', async () => {
    await expect(async () => brew({ count: 3, targets: 4 })).rejects.toThrow('cannot split 3 poisons over 4 target(s) from 1000 training points; choose count in 4..999');
  });
});
