/**
 * Optional overrides of the training recipe shared by the gradient-based methods: each option is
 * null by default, meaning "use the experiment's training recipe".
 */
import type { TrainingRecipe } from '@unlearn-bench/core';

/** Learning rate, batch size and momentum, each null to use the training recipe's. */
export interface RecipeOverrides {
  /** Learning rate; null uses the training recipe's. @default null */
  readonly learningRate: number | null;
  /** Batch size; null uses the training recipe's. @default null */
  readonly batchSize: number | null;
  /** Momentum; null uses the training recipe's. @default null */
  readonly momentum: number | null;
}

/** JSON Schema properties of RecipeOverrides, to spread into an options schema. */
export const RECIPE_OVERRIDE_PROPERTIES = {
  learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Learning rate; null uses the training recipe’s.' },
  batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Batch size; null uses the training recipe’s.' },
  momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: null, description: 'Momentum; null uses the training recipe’s.' },
} as const;

/** `training` with the non-null overrides applied. */
export function applyOverrides(training: TrainingRecipe, overrides: RecipeOverrides): TrainingRecipe {
  return {
    ...training,
    learningRate: overrides.learningRate ?? training.learningRate,
    batchSize: overrides.batchSize ?? training.batchSize,
    momentum: overrides.momentum ?? training.momentum,
  };
}
