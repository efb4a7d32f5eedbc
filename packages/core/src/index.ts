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
export { resolveOptionPath } from './paths.ts';
export type { Rng } from './rng.ts';

export { createExamples, createTextExamples, selectExamples, concatExamples, splitIndices, exampleSize } from './data.ts';
export type { Examples, DatasetSplit } from './data.ts';

export type { BackendName, EngineInfo } from './engine.ts';
export { engineKey } from './engine.ts';

export { createBudgetMeter } from './budget.ts';
export type { BudgetMeter } from './budget.ts';

export { silentLogger, childLogger } from './logger.ts';
export type { Logger, ProgressEvent, TextSink } from './logger.ts';

export { Artifacts, defineArtifact, GAUSSIAN_NOISE, BACKDOOR_TRIGGER, stampTrigger, TARGETED_POISON, LABEL_FLIP, TRIGGERED_TEST } from './artifacts.ts';
export type { ArtifactKey, GaussianNoiseRecord, BackdoorTriggerRecord, TargetedPoisonRecord, LabelFlipRecord, TriggeredTestRecord } from './artifacts.ts';

export { CAPABILITIES, TOKEN_PADDING, tokenNoise, tokenRowSize } from './model.ts';
export type { Capability, ClassifierModel, LogitsOptions, ModelLayer, TokenInputs } from './model.ts';

export { API_VERSION, isSummaryMetric } from './plugin/types.ts';
export type {
  OptionsSchema,
  PluginContext,
  TrainingRecipe,
  AugmentRecipe,
  ModelFactory,
  Featurizer,
  Modality,
  ModelShape,
  AttackInput,
  PoisonResult,
  Attack,
  UnlearnInput,
  Unlearner,
  ModelRole,
  MetricInput,
  ModelCost,
  MetricDetails,
  MetricResult,
  Metric,
  Dataset,
  ContributionBase,
  PaperReference,
  AttackDefinition,
  UnlearnerDefinition,
  MetricDefinition,
  SeedAggregate,
  ResultSpec,
  SummaryInput,
  SummaryFields,
  SummaryCell,
  SummaryRow,
  SummaryResult,
  SummaryMetricDefinition,
  ModelDefinition,
  DatasetDefinition,
  PluginMeta,
  Plugin,
  ContributionKind,
} from './plugin/types.ts';
export { definePlugin, defineAttack, defineUnlearner, defineMetric, defineSummaryMetric, defineModel, defineDataset } from './plugin/define.ts';

export {
  inputsTensor,
  labelsTensor,
  crossEntropy,
  crossEntropyPerExample,
  crossEntropyGradient,
  trainSgd,
  inTrainingMode,
  augmentBatch,
  plannedSteps,
  mapBatches,
  predictClasses,
  hasNonFinitePrediction,
  accuracy,
  perExampleLoss,
  inputGradients,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
} from './training.ts';
export type { SgdOptions, TrainReport } from './training.ts';
export { createOptimizer, scheduledLearningRate, trainingRecipeIssues, SGD_UPDATE_KERNEL } from './optimizers.ts';
export type { Optimizer, OptimizerName, OptimizerRecipe, OptimizerHorizon, LearningRateSchedule, StepExtras, SgdUpdateAttrs } from './optimizers.ts';

export { Registry } from './plugin/registry.ts';
export type { RegistryEntry, DefinitionOf } from './plugin/registry.ts';
export { getOrCreateValidator, formatAjvErrors } from './plugin/ajv.ts';
export { closestMatch } from './suggest.ts';

export { loadManifest, parseManifest, validateManifest, canonicalJson, hashJson, expandSweep, MAX_SWEEP_VARIANTS } from './manifest/manifest.ts';
export type { Manifest, PluginRef, UnlearnerRef, SweepVariant, SelectionRule, ResolvedRef, Experiment } from './manifest/manifest.ts';
export { selectVariants, variantOf } from './runner/selection.ts';
export type { VariantPick, VariantSelection } from './runner/selection.ts';
export { experimentSchema } from './manifest/schema.ts';
export { importPlugin, loadManifestPlugins, resolvePluginSpecifier, setTypeScriptLoader } from './manifest/plugins.ts';

export { REGISTRY, ENGINE, LOGGER, CONTAINER } from './tokens.ts';
export { createRootContainer } from './container.ts';
export type { ContainerOptions } from './container.ts';

export { Runner, formatDuration } from './runner/runner.ts';
export type { CellEvent, RunOptions, RunSummary } from './runner/runner.ts';
export type { StandbyWorker } from './runner/standby.ts';
export { registerTensorMemory, readTensorInto, tensorFilledBy } from './tensor-memory.ts';
export type { TensorMemory } from './tensor-memory.ts';
export { planCells, formatBudget } from './runner/plan.ts';
export type { CellPlan, GroupPlan } from './runner/plan.ts';
export { ResultsStore } from './runner/store.ts';
export type { CellIdentity, CellMeta, MetricRow, CellCost, ResultRecord, StoredModel } from './runner/store.ts';
export { aggregate, formatSummary, writeSummaryJsonl, selectSummaryMetrics, runSummaryMetrics, DEFAULT_SUMMARY_METRICS } from './runner/summary.ts';
export type { Aggregate, SummaryFormat, SummarySelection, SummaryOutput, MetricRefLike } from './runner/summary.ts';
export { saveWeights, loadWeights, writeFileAtomic } from './runner/files.ts';

export { runCli, pluginReference } from './cli/cli.ts';
export type { CliHost } from './cli/cli.ts';
