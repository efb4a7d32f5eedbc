import type { TrainingRecipe } from '@unlearn-bench/core';
import { createOptimizer, trainingRecipeIssues } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { applyOverrides } from './recipe.ts';

const adam: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 1e-3, momentum: 0.9, weightDecay: 0.01, optimizer: 'adam', betas: [0.9, 0.95], eps: 1e-6 };
const nesterov: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0, nesterov: true, schedule: { type: 'cosine' } };

describe('applyOverrides', () => {
  it('leaves the recipe as it is when every override is null', () => {
    const none = { learningRate: null, batchSize: null, momentum: null, optimizer: null, weightDecay: null, nesterov: null, decoupledWeightDecay: null, betas: null, eps: null, schedule: null };
    expect(applyOverrides(adam, none)).toEqual(adam);
    expect(applyOverrides(nesterov, { learningRate: null, batchSize: null, momentum: null })).toEqual(nesterov);
  });

  it('applies each override and drops inherited fields that no longer apply', () => {
    const sgd = applyOverrides(adam, { learningRate: 0.01, batchSize: null, momentum: 0, optimizer: 'sgd', weightDecay: 0 });
    expect(sgd).toEqual({ epochs: 3, batchSize: 16, learningRate: 0.01, momentum: 0, weightDecay: 0, optimizer: 'sgd' });
    expect(trainingRecipeIssues(sgd)).toEqual([]);
    const plain = applyOverrides(nesterov, { learningRate: null, batchSize: null, momentum: 0 });
    expect(plain.nesterov).toBeUndefined();
    expect(trainingRecipeIssues(plain)).toEqual([]);
    const scheduled = applyOverrides(nesterov, { learningRate: null, batchSize: null, momentum: null, schedule: { type: 'step', unit: 'step', stepSize: 2 } });
    expect(scheduled.schedule).toEqual({ type: 'step', unit: 'step', stepSize: 2 });
    expect(() => createOptimizer(scheduled, []).dispose()).not.toThrow();
  });
});
