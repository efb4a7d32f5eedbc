/**
 * The plugin contract. A plugin package default-exports `definePlugin({...})`; each contribution is
 * a plain object made by `defineAttack`, `defineUnlearner`, `defineMetric`, `defineModel` or
 * `defineDataset`. `create(options, ctx)` runs once per cell and returns the worker object.
 */
import type { Artifacts } from '../artifacts.ts';
import type { BudgetMeter } from '../budget.ts';
import type { DatasetSplit, Examples } from '../data.ts';
import type { EngineInfo } from '../engine.ts';
import type { Logger } from '../logger.ts';
import type { Capability, ClassifierModel, TokenInputs } from '../model.ts';
import type { LearningRateSchedule, OptimizerName } from '../optimizers.ts';
import type { Rng } from '../rng.ts';

/** The plugin API version this core implements. */
export const API_VERSION = 1;

/** A JSON Schema object for a contribution's options. */
export interface OptionsSchema {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, object>>;
  readonly required?: readonly string[];
  readonly additionalProperties: false;
  readonly description?: string;
}

/** What every contribution's `create` receives besides its options. */
export interface PluginContext {
  /** Seeded random stream for this contribution in this cell. */
  readonly rng: Rng;
  readonly logger: Logger;
  /** The tensor backend that runs. */
  readonly engine: EngineInfo;
  /**
   * Counts forward+backward examples; unlearners must spend every one on it and stay within its
   * limit (the runner counts them too, and fails a cell whose count exceeds either).
   */
  readonly meter: BudgetMeter;
  /**
   * The folder relative paths in options are relative to: the manifest's folder in a run, the
   * working directory when undefined. Resolve option paths with `resolveOptionPath(ctx, path)`.
   */
  readonly baseDir?: string;
}

/**
 * The training recipe of the manifest, used for the poisoned and retrained models. The optimizer
 * fields follow PyTorch's torch.optim (see `createOptimizer`); absent ones mean today's default:
 * SGD with momentum, coupled L2 weight decay, a constant learning rate.
 */
export interface TrainingRecipe {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** SGD momentum μ (`sgd` only; Adam's first-moment decay is `betas[0]`). */
  readonly momentum: number;
  /** Weight decay λ: coupled L2 (the gradient gets + λw) for `sgd`/`adam`, decoupled for `adamw`. */
  readonly weightDecay: number;
  /** Update rule. @default 'sgd' */
  readonly optimizer?: OptimizerName;
  /** Nesterov momentum (`sgd` with momentum > 0). @default false */
  readonly nesterov?: boolean;
  /** Decoupled weight decay w ← w(1 − lr·λ) for `sgd`/`adam` (always on for `adamw`). @default false */
  readonly decoupledWeightDecay?: boolean;
  /** Adam's (β₁, β₂). @default [0.9, 0.999] */
  readonly betas?: readonly [number, number];
  /** Adam's ε, added to √v̂. @default 1e-8 */
  readonly eps?: number;
  /** Learning-rate schedule. @default constant */
  readonly schedule?: LearningRateSchedule;
  /** Data augmentation of image inputs during training (see `augmentBatch`). @default none */
  readonly augment?: AugmentRecipe;
  /**
   * Gradient accumulation: each batch runs through the model in micro-batches of at most this many
   * examples whose gradients are summed, weighted by size, before one optimizer step (the whole
   * batch's gradient for a per-example mean loss, with one micro-batch's activations in memory).
   * @default the whole batch
   */
  readonly microBatchSize?: number;
}

/**
 * Random crop and horizontal flip, the CIFAR augmentation of the study's ResNet recipe (Kuang Liu's
 * pytorch-cifar main.py: RandomCrop(32, padding=4), RandomHorizontalFlip()).
 */
export interface AugmentRecipe {
  /** Zero padding on each side before a random crop back to the input size, in pixels. @default 0 */
  readonly crop?: number;
  /** Mirror each image left-right with probability 1/2. @default false */
  readonly flip?: boolean;
}

/** Builds fresh models with weights drawn from the given rng. */
export interface ModelFactory {
  build(rng: Rng): ClassifierModel;
  /** Set when the models it builds read token ids (see `TokenInputs`): attacks that perturb inputs then work on the token embeddings. */
  readonly tokenInputs?: TokenInputs;
}

/** Turns texts into the model's input features (text models; see ModelDefinition.createFeaturizer). */
export interface Featurizer {
  /** Shape of one feature vector, e.g. `[384]`. */
  readonly featureShape: readonly number[];
  /** Features of `texts`, row-major, `texts.length × size(featureShape)` values. */
  featurize(texts: readonly string[]): Float32Array | Promise<Float32Array>;
  dispose?(): void;
}

/** Input to an attack: the clean split and a way to build models (for surrogate-based attacks). */
export interface AttackInput {
  readonly data: DatasetSplit;
  readonly models: ModelFactory;
  readonly training: TrainingRecipe;
  /**
   * For text data: recomputes features of changed texts (e.g. after inserting a trigger), so the
   * returned examples stay consistent. Undefined for non-text data.
   */
  readonly featurize?: (texts: readonly string[]) => Promise<Float32Array>;
}

/** What an attack returns: the clean set S, the poison set P, and records for metrics. */
export interface PoisonResult {
  /** Training points kept clean (S). The poisoned model trains on S ∪ P, the retrained one on S. */
  readonly clean: Examples;
  /** The poison set P; it is the forget set given to unlearners. */
  readonly poisons: Examples;
  /** Typed records for metrics (noise, triggers, targets). */
  readonly artifacts: Artifacts;
  /** Forward+backward examples the attack itself used (surrogates, optimisation). */
  readonly examplesUsed?: number;
}

/** The worker an attack's `create` returns. */
export interface Attack {
  poison(input: AttackInput): PoisonResult | Promise<PoisonResult>;
  dispose?(): void;
}

/** Input to an unlearner. The model must not be mutated; return a new one. */
export interface UnlearnInput {
  readonly model: ClassifierModel;
  /** The forget set U = P. */
  readonly forget: Examples;
  /** The retain set S. */
  readonly retain: Examples;
  readonly training: TrainingRecipe;
  /** Builds fresh models (retraining-style methods). */
  readonly models: ModelFactory;
}

/** The worker an unlearner's `create` returns. */
export interface Unlearner {
  unlearn(input: UnlearnInput): ClassifierModel | Promise<ClassifierModel>;
  dispose?(): void;
}

/** Which model of a cell a metric is looking at. */
export type ModelRole = 'poisoned' | 'retrained' | 'unlearned';

/** Input to a metric. */
export interface MetricInput {
  readonly model: ClassifierModel;
  readonly role: ModelRole;
  readonly data: DatasetSplit;
  /** Clean training points S. */
  readonly clean: Examples;
  /** Poison set P. */
  readonly poisons: Examples;
  readonly artifacts: Artifacts;
  /** The group's poisoned and retrained models (read-only: never mutate or dispose them). */
  readonly references: { readonly poisoned: ClassifierModel; readonly retrained: ClassifierModel };
  /** Compute that produced `model`, and what training the retrained model cost. */
  readonly cost: ModelCost;
}

/** Forward+backward examples and wall time of a model, beside the retrained model's. */
export interface ModelCost {
  readonly examples: number;
  readonly seconds: number;
  readonly retrainExamples: number;
  readonly retrainSeconds: number;
}

/** Extra scalar facts a metric reports beside its value. */
export type MetricDetails = Readonly<Record<string, number | string | boolean | null>>;

/** One number a metric reports; `name` distinguishes several from one metric (e.g. a control). */
export interface MetricResult {
  /** Suffix for secondary results: the stored metric key becomes `<key>:<name>`. */
  readonly name?: string;
  readonly value: number;
  readonly details?: MetricDetails;
}

/** The worker a metric's `create` returns. */
export interface Metric {
  compute(input: MetricInput): MetricResult | MetricResult[] | Promise<MetricResult | MetricResult[]>;
  dispose?(): void;
}

/** The worker a dataset's `create` returns. */
export interface Dataset {
  load(): DatasetSplit | Promise<DatasetSplit>;
}

/** Shape information a model factory is created for. */
export interface ModelShape {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
}

/** Fields shared by every contribution. `O` is the options type after defaults are applied. */
export interface ContributionBase {
  /** kebab-case id; addressed as `namespace/id`. */
  readonly id: string;
  /** One sentence shown by `unlearn-bench list`. */
  readonly description: string;
  /** JSON Schema of the options; every property has a description and a default. */
  readonly optionsSchema: OptionsSchema;
  /** Papers the contribution implements (shown in the generated plugin reference). */
  readonly references?: readonly PaperReference[];
}

/** A paper a contribution follows. */
export interface PaperReference {
  readonly title: string;
  readonly url: string;
}

/** A poisoning attack. */
export interface AttackDefinition<O = unknown> extends ContributionBase {
  readonly requires?: readonly Capability[];
  create(options: O, ctx: PluginContext): Attack;
}

/** An unlearning method. */
export interface UnlearnerDefinition<O = unknown> extends ContributionBase {
  readonly requires?: readonly Capability[];
  /**
   * Set on `none` and `retrain`: the method's result equals the cell's poisoned or retrained
   * model, which the runner computes once and reuses instead of calling `unlearn`.
   */
  readonly reference?: 'poisoned' | 'retrained';
  /**
   * `unlimited`: a reference row rather than an unlearning method (core/retrain-replica): it runs
   * once per seed × attack with no budget (its budget column reads `-`), not once per budget.
   */
  readonly budget?: 'unlimited';
  create(options: O, ctx: PluginContext): Unlearner;
}

/**
 * How the summary over seeds reads one result of a metric: its equivalence margin, its feasible
 * range, and, for a statistic with a known null distribution, how to pool it. Declared by the
 * metric (`MetricDefinition.results`); margins can be overridden per manifest (`core/verdict`).
 */
export interface ResultSpec {
  /**
   * Equivalence margin: a model is `equivalent` to retraining on this result when the 90% interval
   * of its difference from retraining lies inside ±margin (in the result's units, or in score
   * units for `null: 'standard-normal-scores'`). Without a margin the result gets no verdict.
   */
  readonly margin?: number;
  /** Feasible range of the value (e.g. [0, 1] for a proportion); intervals are kept inside it. */
  readonly range?: readonly [number, number];
  /**
   * `standard-normal-scores`: the value summarises k per-unit scores (details `mean`, `std`, `k`)
   * that are iid N(0, 1) when the model never saw the poisons (GUS). The summary pools the scores
   * of all seeds and compares them with that exact null rather than with retraining's seeds.
   */
  readonly null?: 'standard-normal-scores';
}

/** A metric computed on every model of a cell. */
export interface MetricDefinition<O = unknown> extends ContributionBase {
  /** Per model (the default); experiment-level metrics are `SummaryMetricDefinition`s. */
  readonly scope?: 'model';
  readonly requires?: readonly Capability[];
  /**
   * How the summary reads each result, keyed by result name (`''` for the primary result, else the
   * `name` of a secondary result).
   */
  readonly results?: Readonly<Record<string, ResultSpec>>;
  create(options: O, ctx: PluginContext): Metric;
}

/**
 * One per-model metric of one model (attack × unlearner × budget) aggregated over seeds: what an
 * experiment-level (summary) metric sees.
 */
export interface SeedAggregate {
  readonly attack: string;
  /** Unlearner label; `none` is the poisoned model, `retrain` the retrained one. */
  readonly unlearner: string;
  /** Budget fraction (unlearned models), else null. */
  readonly budget: number | null;
  readonly role: ModelRole;
  /** Stored metric key, e.g. `accuracy` or `gus:fresh-noise`. */
  readonly metric: string;
  /** Mean over the seeds with a value; NaN if none has one. */
  readonly mean: number;
  /** Sample standard deviation over seeds (n − 1); NaN for fewer than 2 seeds. */
  readonly std: number;
  /**
   * 95% confidence interval of the mean (Student t, n − 1 degrees of freedom), kept inside
   * `spec.range`; for values that are all 0 or 1 (one binary outcome per seed), the Wilson score
   * interval. NaN bounds for n < 2.
   */
  readonly ci95: readonly [number, number];
  /** Number of seeds with a value. */
  readonly n: number;
  /** Seeds of the cells (also those whose value is null). */
  readonly seeds: readonly number[];
  /** Per-seed values, aligned with `seeds` (null where the metric had no value or the model diverged). */
  readonly values: readonly (number | null)[];
  /** Per-seed metric details, aligned with `seeds`. */
  readonly details: readonly (MetricDetails | null)[];
  /**
   * Seeds on which the model diverged (non-finite weights or loss): no metric was computed there,
   * and `mean`, `std` and `ci95` are NaN, since a diverged seed is never averaged with finite ones.
   */
  readonly diverged: readonly number[];
  /** Why the model diverged (the first diverged seed's reason), or null. */
  readonly divergedReason: string | null;
  /** The experiment setup the values come from (dataset, model, recipe, backend, attack): aggregates never pool setups. */
  readonly setup: string;
  /** The manifest name(s) of the records. */
  readonly experiment: string;
  /** How this result is read (from its metric's `results`). */
  readonly spec: ResultSpec;
  /**
   * For the variant a manifest's selection rule chose among a sweep's variants: how many it was
   * chosen from (a verdict should account for the choice, e.g. by testing equivalence at α / this).
   */
  readonly selectedFrom?: number;
}

/** What a summary metric's `summarize` receives: every per-model metric aggregated over seeds. */
export interface SummaryInput {
  /** One per attack × model × per-model metric; the retrained model's have role `retrained`. */
  readonly aggregates: readonly SeedAggregate[];
}

/** Scalar fields a summary metric adds to lines of `summary.jsonl`. */
export type SummaryFields = Readonly<Record<string, number | string | boolean | null>>;

/** A summary metric's result for one model and one per-model metric (one table cell). */
export interface SummaryCell {
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  /** The per-model metric this cell is about. */
  readonly metric: string;
  /** Printed in the table, e.g. `≈ 0.4` or `n/a`; omit to only export `fields` (the cell stays blank). */
  readonly text?: string;
  /** Added to this aggregate's line of `summary.jsonl`. */
  readonly fields?: SummaryFields;
}

/** A summary metric's result for one model over all metrics (one extra column, e.g. a verdict). */
export interface SummaryRow {
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  /** Printed in the row's extra column; omit to only export `fields`. */
  readonly text?: string;
  /** Added to every line of this model in `summary.jsonl`. */
  readonly fields?: SummaryFields;
}

/** What `summarize` returns: cells per model × metric, optionally one per model, and the rule. */
export interface SummaryResult {
  /** Name of the table, e.g. `verdict against retraining`; printed as `<title>, <attack>: <rule>`. */
  readonly title: string;
  /** How to read the cells, stated in the output (e.g. the threshold of a verdict). */
  readonly rule: string;
  readonly cells: readonly SummaryCell[];
  /** One per model; printed as an extra last column named `rowHeader`. A model with no printed cell or row is left out of the table. */
  readonly rows?: readonly SummaryRow[];
  /** Header of the `rows` column. @default 'verdict' */
  readonly rowHeader?: string;
  /** Printed under the tables (e.g. a metric named in the options that the run does not have). */
  readonly notes?: readonly string[];
}

/**
 * An experiment-level metric: computed once after the run from the other metrics aggregated over
 * seeds (it cannot see models). Listed in a manifest's `metrics` like any metric; the runner skips
 * it per model, and the tables and `summary.jsonl` show its result.
 */
export interface SummaryMetricDefinition<O = unknown> extends ContributionBase {
  readonly scope: 'summary';
  /** A summary metric sees no model, so it requires no capability. */
  readonly requires?: never;
  /** Must be pure: the same aggregates and options give the same result. */
  summarize(input: SummaryInput, options: O): SummaryResult;
}

/** Whether a metric definition is an experiment-level (summary) metric. */
export function isSummaryMetric(definition: object): definition is SummaryMetricDefinition {
  return (definition as { scope?: unknown }).scope === 'summary';
}

/** A model architecture. */
export interface ModelDefinition<O = unknown> extends ContributionBase {
  /** What models built by this definition can do. */
  readonly capabilities: readonly Capability[];
  /**
   * Text models only: the frozen part that turns texts into features (a tokenizer and backbone,
   * or a hashing vectoriser). The runner featurizes text datasets once with it, then builds the
   * trainable model (`create`) on `featureShape`.
   */
  createFeaturizer?(options: O, ctx: PluginContext): Featurizer | Promise<Featurizer>;
  create(options: O, shape: ModelShape, ctx: PluginContext): ModelFactory;
}

/** What a dataset's examples are: tensors (`inputs`), or texts that a text model featurizes. */
export type Modality = 'tensor' | 'text';

/** How many examples a dataset gives with some options, known without loading it (see `DatasetDefinition.size`). */
export interface DatasetSize {
  readonly train: number;
  readonly test: number;
  /** @default 0 */
  readonly validation?: number;
  /** Examples the source holds in all, for a fixed corpus (train, test and validation together may not exceed it); absent for generated data. */
  readonly available?: number;
}

/** A dataset. */
export interface DatasetDefinition<O = unknown> extends ContributionBase {
  /** @default 'tensor' */
  readonly modality?: Modality;
  /**
   * The sizes these options give, computed from the options alone (cheap, no data loaded). With it,
   * `validate` refuses sizes above what the source holds and attack counts above the training set,
   * and warns of budgets too small to buy one step. Omit it when the size needs the data (a file).
   */
  size?(options: O): DatasetSize;
  create(options: O, ctx: PluginContext): Dataset;
}

/** Identification of a plugin package. */
export interface PluginMeta {
  /** npm package name, e.g. `@someone/unlearn-bench-plugin-foo`. */
  readonly name: string;
  readonly version: string;
  /** Prefix of every id this plugin contributes, e.g. `core`. */
  readonly namespace: string;
  /** Must equal the core's API_VERSION. */
  readonly apiVersion: number;
}

/** A plugin: metadata and contributions of each kind. */
export interface Plugin {
  readonly meta: PluginMeta;
  readonly attacks?: readonly AttackDefinition<never>[];
  readonly unlearners?: readonly UnlearnerDefinition<never>[];
  readonly metrics?: readonly MetricDefinition<never>[];
  /** Experiment-level metrics; registered and selected in manifests as metrics (`namespace/id`). */
  readonly summaryMetrics?: readonly SummaryMetricDefinition<never>[];
  readonly models?: readonly ModelDefinition<never>[];
  readonly datasets?: readonly DatasetDefinition<never>[];
}

/** The five kinds of contribution. */
export type ContributionKind = 'attack' | 'unlearner' | 'metric' | 'model' | 'dataset';
