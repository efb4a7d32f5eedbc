/**
 * Optional overrides of the training recipe shared by the gradient-based methods: each option is
 * null by default, meaning "use the experiment's training recipe". A method whose authors use other
 * values gives those as its own defaults (with a citation) instead of null.
 */
import { experimentSchema, type AugmentRecipe, type LearningRateSchedule, type OptimizerName, type TrainingRecipe } from '@unlearn-bench/core';

/**
 * The recipe fields a method may override, each null to use the training recipe's. The optimizer
 * fields are optional in the type (options objects written before they existed still type-check);
 * the schema fills them with null.
 */
export interface RecipeOverrides {
  /** Learning rate; null uses the training recipe's. @default null */
  readonly learningRate: number | null;
  /** Batch size; null uses the training recipe's. @default null */
  readonly batchSize: number | null;
  /** SGD momentum; null uses the training recipe's. @default null */
  readonly momentum: number | null;
  /** Update rule (`sgd`, `adam`, `adamw`); null uses the training recipe's. @default null */
  readonly optimizer?: OptimizerName | null;
  /** Weight decay λ (coupled for sgd/adam, decoupled for adamw); null uses the training recipe's. @default null */
  readonly weightDecay?: number | null;
  /** Nesterov momentum (sgd); null uses the training recipe's. @default null */
  readonly nesterov?: boolean | null;
  /** Decoupled weight decay for sgd/adam; null uses the training recipe's. @default null */
  readonly decoupledWeightDecay?: boolean | null;
  /** Adam's (β₁, β₂); null uses the training recipe's. @default null */
  readonly betas?: readonly [number, number] | null;
  /** Adam's ε; null uses the training recipe's. @default null */
  readonly eps?: number | null;
  /** Learning-rate schedule of the method's run; null uses the training recipe's. @default null */
  readonly schedule?: LearningRateSchedule | null;
  /**
   * Augmentation of the method's training runs (crop, flip); `{}` turns the recipe's off; null uses
   * the training recipe's. @default null
   */
  readonly augment?: AugmentRecipe | null;
}

type TrainingSchema = { properties: { training: { properties: Record<string, Record<string, unknown>> } } };
const trainingProperties = (experimentSchema as TrainingSchema).properties.training.properties;

/** The manifest's `training.<name>` schema made nullable with a null default, for an override. */
function nullable(name: string, description: string): Record<string, unknown> {
  const { description: _ignored, ...rest } = trainingProperties[name];
  if ('enum' in rest) return { ...rest, enum: [...(rest.enum as unknown[]), null], default: null, description };
  const type = ([] as unknown[]).concat(rest.type);
  return { ...rest, type: [...type, 'null'], default: null, description };
}

/** JSON Schema properties of RecipeOverrides, to spread into an options schema. */
export const RECIPE_OVERRIDE_PROPERTIES = {
  learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Learning rate; null uses the training recipe’s.' },
  batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Batch size; null uses the training recipe’s.' },
  momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: null, description: 'SGD momentum; null uses the training recipe’s.' },
  optimizer: nullable('optimizer', 'Update rule: sgd, adam or adamw (PyTorch semantics); null uses the training recipe’s.'),
  weightDecay: nullable('weightDecay', 'Weight decay λ (L2 added to the gradient for sgd and adam, decoupled for adamw); null uses the training recipe’s.'),
  nesterov: nullable('nesterov', 'Nesterov momentum (sgd with momentum > 0); null uses the training recipe’s.'),
  decoupledWeightDecay: nullable('decoupledWeightDecay', 'Decoupled weight decay for sgd and adam; null uses the training recipe’s.'),
  betas: nullable('betas', 'Adam’s (β₁, β₂); null uses the training recipe’s.'),
  eps: nullable('eps', 'Adam’s ε; null uses the training recipe’s.'),
  schedule: nullable('schedule', 'Learning-rate schedule of this method’s run (as the manifest’s training.schedule; epochs are passes over the set the method trains on); null uses the training recipe’s.'),
  augment: nullable('augment', 'Augmentation of this method’s training runs (as the manifest’s training.augment: crop, flip); {} turns the recipe’s augmentation off; null uses the training recipe’s.'),
} as const;

/**
 * `training` with the non-null overrides applied. Optimizer fields inherited from the recipe that
 * do not apply to an overridden update rule (Adam's betas under `sgd`, say), or Nesterov under an
 * overridden momentum of 0, are dropped.
 */
export function applyOverrides(training: TrainingRecipe, overrides: Partial<RecipeOverrides>): TrainingRecipe {
  const optimizer = overrides.optimizer ?? training.optimizer;
  const inherited = { ...training };
  if (overrides.optimizer != null && overrides.optimizer !== (training.optimizer ?? 'sgd')) {
    if (optimizer === 'sgd') {
      delete inherited.betas;
      delete inherited.eps;
    } else delete inherited.nesterov;
    if (optimizer === 'adamw') delete inherited.decoupledWeightDecay;
  }
  // An inherited Nesterov flag lapses when the method turns momentum off (NegGrad+'s plain SGD).
  if (overrides.momentum === 0 && overrides.nesterov == null) delete inherited.nesterov;
  const out: Record<string, unknown> = {
    ...inherited,
    learningRate: overrides.learningRate ?? training.learningRate,
    batchSize: overrides.batchSize ?? training.batchSize,
    momentum: overrides.momentum ?? training.momentum,
    weightDecay: overrides.weightDecay ?? training.weightDecay,
  };
  for (const key of ['optimizer', 'nesterov', 'decoupledWeightDecay', 'betas', 'eps', 'schedule', 'augment'] as const) {
    if (overrides[key] != null) out[key] = overrides[key];
  }
  return out as unknown as TrainingRecipe;
}
