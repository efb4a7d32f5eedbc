import * as tf from '@tensorflow/tfjs-core';
import { TARGETED_POISON, createBudgetMeter, createExamples, createRng, perExampleLoss, silentLogger, trainSgd, type DatasetSplit, type ModelFactory, type PluginContext } from '@unlearn-bench/core';
import { createEngine, mlpModel, mnistDataset } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { witchesBrewAttack, type WitchesBrewOptions } from './index.ts';

const training = { epochs: 3, batchSize: 64, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
const defaults: WitchesBrewOptions = { count: 20, fraction: 0.01, targets: 2, epsilon: 16 / 255, iterations: 30, restarts: 1, stepSize: 0.1 };
let data: DatasetSplit;
let models: ModelFactory;

/** Runs the attack and returns its result and the final alignment losses 1 − cos it logged. */
async function brew(options: Partial<WitchesBrewOptions>, seed = 1) {
  const messages: string[] = [];
  const ctx: PluginContext = { rng: createRng(seed), logger: { ...silentLogger, debug: (m: string) => messages.push(m) }, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
  const result = await witchesBrewAttack.create({ ...defaults, ...options }, ctx).poison({ data, models, training });
  const losses = messages.join('\n').match(/final 1 − cos = (.*)/)![1].split(', ').map(Number);
  return { result, losses };
}

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
  data = await mnistDataset.create({ trainSize: 1000, testSize: 300, splitSeed: 0 }, { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() }).load();
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
    start.forEach((loss, t) => expect(end[t]).toBeLessThan(0.85 * loss)); // measured 0.488 → 0.377, 0.483 → 0.381
  });

  it('moves an independently trained model towards the adversarial labels more than the clean bases do', async () => {
    // Mechanism check (full from-scratch success does not happen at this scale; see the README): a model
    // trained on clean data with its own seed, fine-tuned on the poisons alone, loses more adversarial
    // loss on the targets than the same model fine-tuned on the unperturbed bases (same labels).
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
    // measured 0.72 vs 0.54 (brew seed 2); seeds 3 and 4 give 0.71 vs 0.62 and 0.50 vs 0.41
    expect(poisonDrop).toBeGreaterThan(baseDrop + 0.05);
  });

  it('rejects a budget smaller than the number of targets', async () => {
    await expect(async () => brew({ count: 3, targets: 4 })).rejects.toThrow('cannot split 3 poisons over 4 target(s) from 1000 training points; choose count in 4..999');
  });
});
