/**
 * @unlearn-bench/core: the plugin contract, registry, manifest validation, runner, results store
 * and CLI of unlearn-bench. Plugin authors need only this entry.
 */
import 'reflect-metadata';
import './tf-gradients.ts';

export {
  UnlearnBenchError,
  InvalidManifestError,
  UnknownPluginError,
  DuplicatePluginError,
  InvalidPluginError,
  CapabilityMissingError,
  PluginFailedError,
  BudgetExceededError,
  EngineError,
  StoreError,
  UsageError,
  callPlugin,
} from './errors.ts';
export type { ErrorCode, ManifestIssue } from './errors.ts';

export { createRng, hashString } from './rng.ts';
export type { Rng } from './rng.ts';

export { createExamples, selectExamples, concatExamples, splitIndices, exampleSize } from './data.ts';
export type { Examples, DatasetSplit } from './data.ts';

export type { BackendName, EngineInfo } from './engine.ts';

export { createBudgetMeter } from './budget.ts';
export type { BudgetMeter } from './budget.ts';

export { silentLogger, childLogger } from './logger.ts';
export type { Logger, ProgressEvent } from './logger.ts';

export { Artifacts, defineArtifact, GAUSSIAN_NOISE } from './artifacts.ts';
export type { ArtifactKey, GaussianNoiseRecord } from './artifacts.ts';

export { CAPABILITIES } from './model.ts';
export type { Capability, ClassifierModel, ModelLayer } from './model.ts';

export { API_VERSION } from './plugin/types.ts';
export type {
  OptionsSchema,
  PluginContext,
  TrainingRecipe,
  ModelFactory,
  ModelShape,
  AttackInput,
  PoisonResult,
  Attack,
  UnlearnInput,
  Unlearner,
  ModelRole,
  MetricInput,
  MetricDetails,
  MetricResult,
  Metric,
  Dataset,
  ContributionBase,
  AttackDefinition,
  UnlearnerDefinition,
  MetricDefinition,
  ModelDefinition,
  DatasetDefinition,
  PluginMeta,
  Plugin,
  ContributionKind,
} from './plugin/types.ts';
export { definePlugin, defineAttack, defineUnlearner, defineMetric, defineModel, defineDataset } from './plugin/define.ts';

export {
  inputsTensor,
  labelsTensor,
  crossEntropy,
  crossEntropyPerExample,
  trainSgd,
  mapBatches,
  predictClasses,
  accuracy,
  perExampleLoss,
  inputGradients,
} from './training.ts';
export type { SgdOptions, TrainReport } from './training.ts';
