/**
 * Runs an experiment (PAPER.md protocol): for each (seed, attack) group, the attack builds the
 * poison set P; the poisoned model trains on S ∪ P and the retrained model on S (same recipe, same
 * initial weights), both once and cached on disk; each unlearner × budget gets the poisoned model,
 * forget = P and retain = S; every per-model metric runs on every model; each finished cell is
 * written to the store atomically. Finished cells are skipped on rerun. Summary metrics run once at
 * the end, on the aggregates over seeds (summary.jsonl).
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inject, injectable, type DependencyContainer } from 'tsyringe';
import { createBudgetMeter } from '../budget.ts';
import { concatExamples, createExamples, type DatasetSplit, type Examples } from '../data.ts';
import type { EngineInfo } from '../engine.ts';
import { PluginFailedError, UnlearnBenchError, callPlugin } from '../errors.ts';
import { childLogger, type Logger } from '../logger.ts';
import type { Experiment, ResolvedRef } from '../manifest/manifest.ts';
import type { ClassifierModel } from '../model.ts';
import type { Registry } from '../plugin/registry.ts';
import { isSummaryMetric, type Metric, type MetricInput, type ModelFactory, type ModelRole, type PluginContext, type PoisonResult } from '../plugin/types.ts';
import { createRng, type Rng } from '../rng.ts';
import { CONTAINER, ENGINE, LOGGER, REGISTRY } from '../tokens.ts';
import { trainSgd } from '../training.ts';
import { loadWeights, saveWeights, writeFileAtomic } from './files.ts';
import { formatBudget, planCells, type CellPlan, type GroupPlan } from './plan.ts';
import { Scope } from './scope.ts';
import { selectSummaryMetrics, writeSummaryJsonl, type SummarySelection } from './summary.ts';
import { ResultsStore, type CellCost, type CellMeta, type MetricRow, type ResultRecord } from './store.ts';

/** Where and how to run. */
export interface RunOptions {
  /** Output folder: results.db, results.jsonl, run.json, cached models. */
  readonly outDir: string;
  /**
   * Run only the groups at these indices of the plan (planCells order). Worker processes use this
   * to split a run; every group is independent, so the union equals a sequential run.
   */
  readonly groups?: readonly number[];
}

/** What a run did. */
export interface RunSummary {
  readonly cellsTotal: number;
  readonly cellsComputed: number;
  readonly cellsSkipped: number;
  readonly failures: readonly { cell: string; message: string }[];
  readonly seconds: number;
  readonly resultsPath: string;
  readonly databasePath: string;
  /** Every record of this experiment's cells (also earlier runs' finished cells). */
  readonly records: readonly ResultRecord[];
  /** The summary metrics the tables and `summary.jsonl` use (listed ones, then defaults). */
  readonly summaries: readonly SummarySelection[];
}

interface GroupState {
  readonly group: GroupPlan;
  readonly data: DatasetSplit;
  readonly rng: Rng;
  readonly poison: PoisonResult;
  readonly attackSeconds: number;
  readonly factory: ModelFactory;
  readonly poisoned: ClassifierModel;
  readonly poisonedCost: CellCost;
  readonly poisonedPath: string;
  readonly retrained: ClassifierModel;
  readonly retrainedCost: CellCost;
  readonly metrics: readonly { ref: ResolvedRef<'metric'>; worker: Metric }[];
}

/** Executes experiments; resolved from the root container. */
@injectable()
export class Runner {
  constructor(
    @inject(REGISTRY) private readonly registry: Registry,
    @inject(ENGINE) private readonly engine: EngineInfo,
    @inject(LOGGER) private readonly logger: Logger,
    @inject(CONTAINER) private readonly container: DependencyContainer,
  ) {}

  /** Runs every unfinished cell of `experiment`, writing results under `options.outDir`. */
  async run(experiment: Experiment, options: RunOptions): Promise<RunSummary> {
    this.baseDir = experiment.baseDir;
    const start = performance.now();
    const groups = planCells(experiment, this.engine.backend).filter((_, i) => !options.groups || options.groups.includes(i));
    const cellsTotal = groups.reduce((n, g) => n + g.cells.length, 0);
    mkdirSync(join(options.outDir, 'models'), { recursive: true });
    removeStaleTemporaries(options.outDir);
    const store = new ResultsStore(options.outDir);
    // Run → group → cell containers; each disposes what its scope created.
    const runContainer = this.container.createChildContainer();
    const runScope = runContainer.resolve(Scope);
    const failures: { cell: string; message: string }[] = [];
    let computed = 0;
    let skipped = 0;
    try {
      const info = this.runInfo(experiment);
      const runId = store.startRun(experiment.name, experiment.hash, info);
      writeFileAtomic(join(options.outDir, 'run.json'), `${JSON.stringify({ runId, ...info }, null, 2)}\n`);
      this.logger.info(`backend: ${this.engine.backend} (${this.engine.reason})`);
      this.logger.info(`${experiment.name}: ${groups.length} seed × attack group(s), ${cellsTotal} cell(s); output in ${options.outDir}`);

      const pending = groups.map((g) => ({ group: g, todo: g.cells.filter((c) => !store.hasCell(c.key)) }));
      skipped = cellsTotal - pending.reduce((n, p) => n + p.todo.length, 0);
      if (skipped > 0) this.logger.info(`${skipped} cell(s) already finished in ${options.outDir}; skipping them`);
      const toRun = cellsTotal - skipped;
      let loaded: { data: DatasetSplit; featurize?: (texts: readonly string[]) => Promise<Float32Array> } | undefined;
      let done = 0;
      const eta = () => {
        const elapsed = (performance.now() - start) / 1000;
        return done === 0 ? '' : `, ETA ${formatDuration((elapsed / done) * (toRun - done))}`;
      };

      for (const { group, todo } of pending) {
        if (todo.length === 0) continue;
        loaded ??= await this.loadDataset(experiment, runScope);
        const groupContainer = runContainer.createChildContainer();
        const scope = groupContainer.resolve(Scope);
        try {
          const tensorsBefore = tf.memory().numTensors;
          const state = await this.prepareGroup(experiment, group, loaded, scope, store);
          for (const cell of todo) {
            done += 1;
            this.logger.info(`[cell ${done}/${toRun}${eta()}] seed ${cell.seed} · ${cell.attack} · ${cell.unlearner}${cell.budget === null ? '' : ` @ ${formatBudget(cell.budget)}`}`);
            try {
              await this.runCell(experiment, state, cell, groupContainer, store, runId);
              computed += 1;
            } catch (error) {
              const message = describe(error);
              failures.push({ cell: cell.key, message });
              store.recordFailure(runId, cell.key, message);
              this.logger.warn(`cell ${cell.key} failed: ${message}`);
            }
          }
          await groupContainer.dispose();
          const leaked = tf.memory().numTensors - tensorsBefore;
          if (leaked !== 0) this.logger.debug(`group ${group.key}: ${leaked} tensor(s) not disposed`);
        } catch (error) {
          const message = describe(error);
          for (const cell of todo) {
            if (store.hasCell(cell.key) || failures.some((f) => f.cell === cell.key)) continue;
            failures.push({ cell: cell.key, message });
            store.recordFailure(runId, cell.key, message);
          }
          this.logger.warn(`seed ${group.seed} · ${group.attack.label} failed: ${message}`);
          await Promise.resolve(groupContainer.dispose()).catch(() => {});
        }
      }
      store.finishRun(runId);
      const resultsPath = store.exportJsonl();
      const keys = new Set(groups.flatMap((g) => g.cells.map((c) => c.key)));
      const records = store.records().filter((r) => keys.has(r.cell));
      const summaries = selectSummaryMetrics(experiment.metrics, this.registry, experiment.name);
      writeSummaryJsonl(options.outDir, records, summaries);
      return {
        cellsTotal,
        cellsComputed: computed,
        cellsSkipped: skipped,
        failures,
        seconds: (performance.now() - start) / 1000,
        resultsPath,
        databasePath: join(options.outDir, 'results.db'),
        records,
        summaries,
      };
    } finally {
      await runContainer.dispose();
      store.close();
    }
  }

  private runInfo(experiment: Experiment): Record<string, unknown> {
    return {
      experiment: experiment.name,
      manifestHash: experiment.hash,
      manifest: experiment.resolved,
      backend: this.engine,
      versions: {
        node: process.version,
        tfjs: tf.version_core,
        plugins: Object.fromEntries(this.registry.registeredPlugins().map((p) => [p.name, p.version])),
      },
      startedAt: new Date().toISOString(),
    };
  }

  /**
   * Loads the dataset and, for a text model, featurizes it once and throws the result away: run by
   * the parent before it starts worker processes, so that featurizers with an on-disk cache
   * (`core/transformers-encoder`) encode every text once instead of once per worker.
   */
  async prepare(experiment: Experiment): Promise<void> {
    this.baseDir = experiment.baseDir;
    if (!experiment.model.definition.createFeaturizer) return;
    const scope = new Scope();
    try {
      await this.loadDataset(experiment, scope);
    } finally {
      await scope.dispose();
    }
  }

  /** The manifest's folder during `run`: relative option paths resolve against it. */
  private baseDir: string | undefined;

  private context(rng: Rng, label: string, limit?: number): PluginContext {
    return { rng, logger: childLogger(this.logger, label), engine: this.engine, meter: createBudgetMeter(limit), baseDir: this.baseDir };
  }

  private async loadDataset(experiment: Experiment, scope: Scope): Promise<{ data: DatasetSplit; featurize?: (texts: readonly string[]) => Promise<Float32Array> }> {
    const ref = experiment.dataset;
    const ctx = this.context(createRng(0).fork('dataset'), ref.label);
    const dataset = await callPlugin(ref.use, 'create', () => ref.definition.create(ref.options as never, ctx));
    const raw = await callPlugin(ref.use, 'load', () => dataset.load());
    const modelRef = experiment.model;
    const createFeaturizer = modelRef.definition.createFeaturizer;
    if (!createFeaturizer) {
      this.logger.info(`dataset ${ref.use}: ${raw.train.count} train / ${raw.test.count} test examples of shape [${raw.train.inputShape.join(', ')}], ${raw.numClasses} classes`);
      return { data: raw };
    }
    // Text: the model's frozen featurizer turns every text into features once for the whole run.
    const featurizer = scope.track(
      await callPlugin(modelRef.use, 'createFeaturizer', () => createFeaturizer.call(modelRef.definition, modelRef.options as never, this.context(createRng(0).fork('featurizer'), modelRef.label))),
    );
    const featurize = (texts: readonly string[]) => callPlugin(modelRef.use, 'featurize', () => featurizer.featurize(texts));
    const withFeatures = async (examples: Examples): Promise<Examples> => {
      if (!examples.texts) throw new Error(`dataset ${ref.use} gave examples without texts to a text model`);
      return createExamples(await featurize(examples.texts), examples.labels, featurizer.featureShape, examples.texts);
    };
    const start = performance.now();
    const data = { ...raw, train: await withFeatures(raw.train), test: await withFeatures(raw.test) };
    this.logger.info(
      `dataset ${ref.use}: ${data.train.count} train / ${data.test.count} test texts, ${data.numClasses} classes; features [${featurizer.featureShape.join(', ')}] from ${modelRef.use} in ${((performance.now() - start) / 1000).toFixed(1)} s`,
    );
    return { data, featurize };
  }

  private async prepareGroup(
    experiment: Experiment,
    group: GroupPlan,
    loaded: { data: DatasetSplit; featurize?: (texts: readonly string[]) => Promise<Float32Array> },
    scope: Scope,
    store: ResultsStore,
  ): Promise<GroupState> {
    const { data, featurize } = loaded;
    const rng = createRng(group.seed);
    const label = `seed ${group.seed} · ${group.attack.label}`;
    const modelRef = experiment.model;
    const shape = { inputShape: data.train.inputShape, numClasses: data.numClasses };
    const factory = await callPlugin(modelRef.use, 'create', () =>
      modelRef.definition.create(modelRef.options as never, shape, this.context(rng.fork('model'), modelRef.label)),
    );

    const attackRef = group.attack;
    const attack = scope.track(
      await callPlugin(attackRef.use, 'create', () => attackRef.definition.create(attackRef.options as never, this.context(rng.fork(`attack:${attackRef.label}`), `${label} · attack`))),
    );
    const attackStart = performance.now();
    const poison = await callPlugin(attackRef.use, 'poison', () => attack.poison({ data, models: factory, training: experiment.training, featurize }));
    const attackSeconds = (performance.now() - attackStart) / 1000;
    this.logger.info(`${label}: attack ${attackRef.use} made ${poison.poisons.count} poison(s) in ${attackSeconds.toFixed(1)} s; clean set ${poison.clean.count}`);

    const metrics = [];
    for (const ref of experiment.metrics) {
      const definition = ref.definition;
      if (isSummaryMetric(definition)) continue; // experiment-level: runs on the aggregates after the run
      const worker = scope.track(await callPlugin(ref.use, 'create', () => definition.create(ref.options as never, this.context(rng.fork(`metric:${ref.label}`), `${label} · ${ref.label}`))));
      metrics.push({ ref, worker });
    }

    const trained = (role: ModelRole, examples: Examples) => this.trainReference(experiment, group, role, examples, factory, rng, scope, store);
    const poisoned = trained('poisoned', concatExamples(poison.clean, poison.poisons));
    const retrained = trained('retrained', poison.clean);
    return {
      group,
      data,
      rng,
      poison,
      attackSeconds,
      factory,
      poisoned: poisoned.model,
      poisonedCost: poisoned.cost,
      poisonedPath: poisoned.path,
      retrained: retrained.model,
      retrainedCost: retrained.cost,
      metrics,
    };
  }

  /** Trains (or loads from the output folder) the poisoned or retrained model of a group. */
  private trainReference(experiment: Experiment, group: GroupPlan, role: ModelRole, examples: Examples, factory: ModelFactory, rng: Rng, scope: Scope, store: ResultsStore): { model: ClassifierModel; cost: CellCost; path: string } {
    const model = scope.track(factory.build(rng.fork('model-init')));
    const relative = join('models', `${group.key.replace(/[^A-Za-z0-9=#.-]+/g, '_')}-${role}.weights`);
    const cached = store.getModel(group.key, role);
    if (cached) {
      model.setWeights(loadWeights(cached.path));
      this.logger.info(`seed ${group.seed} · ${group.attack.label} · ${role}: loaded from ${cached.path} (trained earlier)`);
      return { model, cost: { examples: cached.examples, seconds: cached.seconds, budgetExamples: null }, path: cached.path };
    }
    const report = trainSgd(model, examples, {
      ...experiment.training,
      rng: rng.fork('train-order'),
      meter: createBudgetMeter(),
      logger: this.logger,
      label: `seed ${group.seed} · ${group.attack.label} · ${role}`,
    });
    const path = join(store.dir, relative);
    saveWeights(path, model.getWeights());
    store.putModel(group.key, role, relative, report.examples, report.seconds);
    return { model, cost: { examples: report.examples, seconds: report.seconds, budgetExamples: null }, path };
  }

  private async runCell(experiment: Experiment, state: GroupState, cell: CellPlan, groupContainer: DependencyContainer, store: ResultsStore, runId: number): Promise<void> {
    const meta = this.cellMeta(experiment, state);
    if (cell.role === 'poisoned') {
      store.writeCell(runId, cell, meta, state.poisonedCost, await this.measure(state, state.poisoned, 'poisoned', state.poisonedCost));
    } else if (cell.role === 'retrained') {
      store.writeCell(runId, cell, meta, state.retrainedCost, await this.measure(state, state.retrained, 'retrained', state.retrainedCost));
    } else {
      await this.runUnlearner(experiment, state, cell, groupContainer, store, runId);
    }
    store.exportJsonl();
  }

  private async runUnlearner(experiment: Experiment, state: GroupState, cell: CellPlan, groupContainer: DependencyContainer, store: ResultsStore, runId: number): Promise<void> {
    const meta = this.cellMeta(experiment, state);
    const ref = cell.unlearnerRef!;
    const limit = Math.floor(cell.budget! * state.retrainedCost.examples);
    const cellContainer = groupContainer.createChildContainer();
    const scope = cellContainer.resolve(Scope);
    try {
      const ctx = this.context(state.rng.fork(`unlearner:${ref.label}:${cell.budget}`), `seed ${cell.seed} · ${cell.attack} · ${ref.label} @ ${formatBudget(cell.budget)}`, limit);
      const worker = scope.track(await callPlugin(ref.use, 'create', () => ref.definition.create(ref.options as never, ctx)));
      const fingerprint = weightsFingerprint(state.poisoned);
      const start = performance.now();
      const model = await callPlugin(ref.use, 'unlearn', () =>
        worker.unlearn({ model: state.poisoned, forget: state.poison.poisons, retain: state.poison.clean, training: experiment.training, models: state.factory }),
      );
      const seconds = (performance.now() - start) / 1000;
      if (model === state.poisoned || model === state.retrained) {
        throw new PluginFailedError(ref.use, 'unlearn', new Error('returned the model it was given; return a new model (e.g. model.clone())'));
      }
      scope.track(model);
      if (weightsFingerprint(state.poisoned) !== fingerprint) {
        state.poisoned.setWeights(loadWeights(state.poisonedPath));
        throw new PluginFailedError(ref.use, 'unlearn', new Error('mutated the poisoned model it was given; work on model.clone() instead'));
      }
      this.logger.info(`${ref.label} @ ${formatBudget(cell.budget)}: ${ctx.meter.used} of ${limit} budget examples in ${seconds.toFixed(1)} s`);
      const cost: CellCost = { examples: ctx.meter.used, seconds, budgetExamples: limit };
      store.writeCell(runId, cell, meta, cost, await this.measure(state, model, 'unlearned', cost));
    } finally {
      await cellContainer.dispose();
    }
  }

  private cellMeta(experiment: Experiment, state: GroupState): CellMeta {
    return {
      experiment: experiment.name,
      backend: this.engine.backend,
      manifestHash: experiment.hash,
      attackExamples: state.poison.examplesUsed ?? 0,
      attackSeconds: state.attackSeconds,
    };
  }

  private async measure(state: GroupState, model: ClassifierModel, role: ModelRole, cost: CellCost): Promise<MetricRow[]> {
    const input: MetricInput = {
      model,
      role,
      data: state.data,
      clean: state.poison.clean,
      poisons: state.poison.poisons,
      artifacts: state.poison.artifacts,
      references: { poisoned: state.poisoned, retrained: state.retrained },
      cost: { examples: cost.examples, seconds: cost.seconds, retrainExamples: state.retrainedCost.examples, retrainSeconds: state.retrainedCost.seconds },
    };
    const rows: MetricRow[] = [];
    for (const { ref, worker } of state.metrics) {
      const results = await callPlugin(ref.use, 'compute', () => worker.compute(input));
      for (const result of Array.isArray(results) ? results : [results]) {
        rows.push({ metric: result.name ? `${ref.label}:${result.name}` : ref.label, value: result.value, details: result.details });
      }
    }
    return rows;
  }
}

/** Deletes half-written files (`*.tmp-<pid>`) left by a run that was killed mid-write. */
function removeStaleTemporaries(outDir: string): void {
  for (const dir of [outDir, join(outDir, 'models')]) {
    for (const name of readdirSync(dir)) if (/\.tmp-\d+$/.test(name)) rmSync(join(dir, name), { force: true });
  }
}

/** A cheap checksum of a model's weights (detects mutation). */
function weightsFingerprint(model: ClassifierModel): string {
  let sum = 0;
  let weighted = 0;
  for (const w of model.getWeights()) {
    for (let i = 0; i < w.length; i++) {
      sum += w[i];
      weighted += w[i] * ((i % 97) + 1);
    }
  }
  return `${sum}:${weighted}`;
}

function describe(error: unknown): string {
  if (error instanceof UnlearnBenchError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}
