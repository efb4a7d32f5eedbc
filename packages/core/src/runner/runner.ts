/**
 * Runs an experiment (PAPER.md protocol): for each (seed, attack) group, the attack builds the
 * poison set P; the poisoned model trains on S ∪ P and the retrained model on S (same recipe, same
 * initial weights), both once and cached on disk; each unlearner × budget gets the poisoned model,
 * forget = P and retain = S; every per-model metric runs on every model; each finished cell is
 * written to the store atomically. Finished cells are skipped on rerun. Summary metrics run once at
 * the end, on the aggregates over seeds (summary.jsonl).
 */
import * as tf from '@tensorflow/tfjs-core';
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inject, injectable, type DependencyContainer } from 'tsyringe';
import { createBudgetMeter } from '../budget.ts';
import { concatExamples, createExamples, type DatasetSplit, type Examples } from '../data.ts';
import { engineKey, type EngineInfo } from '../engine.ts';
import { PluginFailedError, StoreError, UnlearnBenchError, callPlugin } from '../errors.ts';
import { childLogger, type Logger } from '../logger.ts';
import type { Experiment, ResolvedRef } from '../manifest/manifest.ts';
import type { ClassifierModel } from '../model.ts';
import type { Registry } from '../plugin/registry.ts';
import { isSummaryMetric, type Metric, type MetricInput, type ModelFactory, type ModelRole, type PluginContext, type PoisonResult } from '../plugin/types.ts';
import { createRng, type Rng } from '../rng.ts';
import { CONTAINER, ENGINE, LOGGER, REGISTRY } from '../tokens.ts';
import { setStepCheck, trainSgdYielding } from '../training.ts';
import { loadWeights, lockFolder, removeStaleTemporaries, saveWeights, writeFileAtomic, type FolderLock } from './files.ts';
import { divergence, divergenceBatch, SharedData } from './guards.ts';
import { formatBudget, planCells, type CellPlan, type GroupPlan } from './plan.ts';
import { computeProblem, createComputeCounter, sameWeights } from './metered-model.ts';
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
  /**
   * Compute only the cells with these keys (of the groups run): a queue worker gets the cells of a
   * group that its coordinator's store does not hold yet. Absent: every cell.
   */
  readonly cells?: ReadonlySet<string>;
  /**
   * Called at every safe point (before each cell, and at each training progress event): it may
   * throw or end the process to stop the run there. Worker processes stop here when their parent
   * is gone.
   */
  readonly checkpoint?: () => void;
  /**
   * Aborting it stops the run at the next safe point (SIGINT/SIGTERM in the CLI; its reason, e.g.
   * `SIGINT`, is reported back as `RunSummary.stopped`): between training steps, between cells, or
   * while a plugin call is awaited. The cell in progress is neither stored nor recorded as failed;
   * the next run computes it.
   */
  readonly signal?: AbortSignal;
  /**
   * Told when each cell starts and ends. Worker processes pass it on to their parent, which kills
   * and restarts a worker whose cell runs past the cell timeout without returning (a synchronous
   * loop, which no timer in the worker can interrupt).
   */
  readonly onCell?: (event: CellEvent) => void;
  /**
   * Cells to record as failed with these messages instead of running them: those a parent killed
   * a previous worker for (see `onCell`).
   */
  readonly failCells?: ReadonlyMap<string, string>;
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
  /** Set when `RunOptions.signal` stopped the run: its abort reason (e.g. `SIGINT`). */
  readonly stopped?: string;
  /**
   * Plugin calls given up after the cell timeout, or left unawaited by a stop request. Work they
   * started that never ends (an async loop) can keep the process alive; the CLI ends the process
   * after such a run.
   */
  readonly gaveUp: number;
}

/** A cell starting (with its time limit) or ending, for `RunOptions.onCell`. */
export type CellEvent =
  | { readonly type: 'start'; readonly key: string; readonly label: string; readonly timeoutSeconds: number }
  | { readonly type: 'end'; readonly key: string };

/** A cell's (or a group-preparing call's) time limit, shared by its plugin calls; see `Experiment.cellTimeout`. */
interface Deadline {
  /** `performance.now()` at which the calls are given up. */
  readonly at: number;
  readonly seconds: number;
  /** Set once given up: training steps run for it then throw, so abandoned work stops computing. */
  abandoned: boolean;
}

/** The deadline of the plugin call the current (async) code runs for, so training steps can tell abandoned work. */
const currentDeadline = new AsyncLocalStorage<Deadline>();

/** How often (ms) training steps run RunOptions.checkpoint at most. */
const CHECKPOINT_INTERVAL_MS = 200;

/** Thrown where a stop request interrupts the work; never recorded as a cell failure. */
class RunStopped extends Error {
  constructor(reason: unknown) {
    super(`the run was stopped (${String(reason)})`);
  }
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
  /** The poisoned model's weights, to restore it if an unlearner changes it in place. */
  readonly poisonedWeights: readonly Float32Array[];
  readonly retrained: ClassifierModel;
  readonly retrainedCost: CellCost;
  readonly metrics: readonly { ref: ResolvedRef<'metric'>; worker: Metric }[];
  /** Why each reference model is diverged (undefined: healthy); see guards.ts. */
  readonly poisonedDiverged: string | undefined;
  readonly retrainedDiverged: string | undefined;
  /** The fixed retain batch every model of the group is checked on for divergence. */
  readonly divergenceBatch: Examples;
  /** The data the plugin calls of the group share: the run's dataset, and the group's retain/forget sets and artifacts. */
  readonly shared: { readonly dataset: SharedData; readonly group: SharedData };
}

/** The run's dataset (featurized for a text model) and its snapshot against in-place changes. */
interface LoadedData {
  readonly data: DatasetSplit;
  readonly featurize?: (texts: readonly string[]) => Promise<Float32Array>;
  readonly shared: SharedData;
}

/** What a reference model (poisoned or retrained) came out as. */
interface ReferenceModel {
  readonly model: ClassifierModel;
  readonly cost: CellCost;
  readonly diverged: string | undefined;
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
    const groups = planCells(experiment, engineKey(this.engine))
      .filter((_, i) => !options.groups || options.groups.includes(i))
      .map((g) => (options.cells ? { ...g, cells: g.cells.filter((c) => options.cells!.has(c.key)) } : g));
    const cellsTotal = groups.reduce((n, g) => n + g.cells.length, 0);
    // A worker process (options.groups) is part of a run whose parent holds the folder's lock and
    // writes run.json and summary.jsonl once; a whole run does that itself.
    const whole = !options.groups;
    this.checkpoint = options.checkpoint;
    this.signal = options.signal;
    this.cellTimeout = experiment.cellTimeout;
    this.gaveUp = 0;
    mkdirSync(join(options.outDir, 'models'), { recursive: true });
    const lock: FolderLock | undefined = whole ? lockFolder(options.outDir) : undefined;
    let store: ResultsStore;
    try {
      removeStaleTemporaries([options.outDir, join(options.outDir, 'models')]);
      store = new ResultsStore(options.outDir);
    } catch (error) {
      lock?.release();
      throw error;
    }
    // The export whole, before this run's cells are appended to it (a worker's parent does this).
    if (whole) rewriteExportAtStart(store, this.logger);
    const restoreExit = guardProcessExit();
    // Every training step of the run (plugins' too) checks for a stop request and given-up cells.
    const restoreStepCheck = setStepCheck(() => this.checkStep());
    // Run → group → cell containers; each disposes what its scope created.
    const runContainer = this.container.createChildContainer();
    const runScope = runContainer.resolve(Scope);
    const failures: { cell: string; message: string }[] = [];
    let computed = 0;
    let skipped = 0;
    try {
      const info = this.runInfo(experiment);
      const runId = store.startRun(experiment.name, experiment.hash, info);
      if (whole) this.writeRunInfo(experiment, options.outDir, runId);
      this.logger.info(`backend: ${this.engine.backend} (${this.engine.reason})`);
      this.logger.info(`${experiment.name}: ${groups.length} seed × attack group(s), ${cellsTotal} cell(s); output in ${options.outDir}`);

      const pending = groups.map((g) => ({ group: g, todo: g.cells.filter((c) => !store.hasCell(c)) }));
      skipped = cellsTotal - pending.reduce((n, p) => n + p.todo.length, 0);
      const outdated = pending.flatMap((p) => p.todo).filter((c) => store.storedVersions(c.key) !== undefined);
      if (outdated.length > 0) {
        this.logger.info(`${outdated.length} cell(s) in ${options.outDir} were computed by other plugin versions (${store.storedVersions(outdated[0].key)}, now ${outdated[0].versions}); recomputing them`);
      }
      if (skipped > 0) this.logger.info(`${skipped} cell(s) already finished in ${options.outDir}; skipping them`);
      const toRun = cellsTotal - skipped;
      let loaded: LoadedData | undefined;
      let done = 0;
      const eta = () => {
        const elapsed = (performance.now() - start) / 1000;
        return done === 0 ? '' : `, ETA ${formatDuration((elapsed / done) * (toRun - done))}`;
      };

      for (const { group, todo } of pending) {
        if (todo.length === 0) continue;
        if (this.stopping) break;
        if (!loaded) {
          const dataset = await this.loadDataset(experiment, runScope).catch((error: unknown) => {
            if (this.stopping) return undefined;
            throw error;
          });
          if (!dataset) break; // stopped while loading
          const { data, featurize } = dataset;
          loaded = { data, featurize, shared: new SharedData({ 'dataset.train': data.train, 'dataset.test': data.test }) };
        }
        const groupContainer = runContainer.createChildContainer();
        const scope = groupContainer.resolve(Scope);
        try {
          const tensorsBefore = tf.memory().numTensors;
          const state = await this.prepareGroup(experiment, group, loaded, scope, store);
          for (const cell of todo) {
            await yieldToEventLoop(); // lets signal and IPC-disconnect handlers run between cells
            this.checkpoint?.();
            if (this.stopping) break;
            done += 1;
            const label = `seed ${cell.seed} · ${cell.attack} · ${cell.unlearner}${cell.budget === null ? '' : ` @ ${formatBudget(cell.budget)}`}`;
            this.logger.info(`[cell ${done}/${toRun}${eta()}] ${label}`);
            const given = options.failCells?.get(cell.key);
            if (given !== undefined) {
              failures.push({ cell: cell.key, message: given });
              store.recordFailure(runId, cell.key, given);
              this.logger.warn(`cell ${cell.key} failed: ${given}`);
              continue;
            }
            options.onCell?.({ type: 'start', key: cell.key, label, timeoutSeconds: this.cellTimeout });
            try {
              await this.runCell(experiment, state, cell, groupContainer, store, runId);
              computed += 1;
            } catch (error) {
              if (this.stopping && !store.hasCell(cell)) break; // not finished, not failed: the next run computes it
              const message = describe(error);
              if (store.hasCell(cell)) {
                // Stored in results.db; only a later step (the results.jsonl export) failed.
                computed += 1;
                this.logger.warn(`cell ${cell.key} is stored in results.db, but then: ${message}`);
                continue;
              }
              failures.push({ cell: cell.key, message });
              store.recordFailure(runId, cell.key, message, stackOf(error));
              this.logger.warn(`cell ${cell.key} failed: ${message}`);
              this.logger.debug(`cell ${cell.key}: ${stackOf(error)}`);
            } finally {
              options.onCell?.({ type: 'end', key: cell.key });
            }
          }
          await groupContainer.dispose();
          const leaked = tf.memory().numTensors - tensorsBefore;
          if (leaked !== 0) this.logger.debug(`group ${group.key}: ${leaked} tensor(s) not disposed`);
        } catch (error) {
          if (this.stopping) {
            await Promise.resolve(groupContainer.dispose()).catch(() => {});
            break;
          }
          const message = describe(error);
          for (const cell of todo) {
            if (store.hasCell(cell) || failures.some((f) => f.cell === cell.key)) continue;
            failures.push({ cell: cell.key, message });
            store.recordFailure(runId, cell.key, message, stackOf(error));
          }
          this.logger.warn(`seed ${group.seed} · ${group.attack.label} failed: ${message}`);
          this.logger.debug(`seed ${group.seed} · ${group.attack.label}: ${stackOf(error)}`);
          await Promise.resolve(groupContainer.dispose()).catch(() => {});
        }
      }
      const stopped = this.stopping ? String(this.signal?.reason) : undefined;
      if (stopped) this.logger.debug(`run stopped (${stopped}); its finished cells are stored`);
      else store.finishRun(runId); // a stopped run stays unfinished in the runs table
      // A worker of a parent (groups given) leaves the rewrite to its parent, which does it once all its
      // workers are done: a worker's rewrite could drop the lines another worker appends meanwhile.
      const resultsPath = whole ? store.exportJsonl() : join(options.outDir, 'results.jsonl');
      // Finished cells only: a cell stored by other plugin versions that failed now is not this run's.
      const keys = new Set(groups.flatMap((g) => g.cells.filter((c) => store.hasCell(c)).map((c) => c.key)));
      const records = store.records().filter((r) => keys.has(r.cell));
      const summaries = selectSummaryMetrics(experiment.metrics, this.registry, experiment.name, experiment.selection);
      if (whole) writeSummaryJsonl(options.outDir, records, summaries);
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
        ...(stopped ? { stopped } : {}),
        gaveUp: this.gaveUp,
      };
    } finally {
      restoreStepCheck();
      restoreExit();
      await runContainer.dispose();
      store.close();
      lock?.release();
    }
  }

  /**
   * Writes `run.json` (manifest hash, resolved manifest, versions, backend) into `outDir`. A run
   * writes it once: a whole run itself, a run split over worker processes from the parent.
   */
  writeRunInfo(experiment: Experiment, outDir: string, runId?: number): void {
    writeFileAtomic(join(outDir, 'run.json'), `${JSON.stringify({ ...(runId === undefined ? {} : { runId }), ...this.runInfo(experiment) }, null, 2)}\n`);
  }

  /** What run.json and the runs table record about a run: manifest, versions, backend, start time. */
  runInfo(experiment: Experiment): Record<string, unknown> {
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
    this.cellTimeout = experiment.cellTimeout;
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
  /** RunOptions.checkpoint of the current run. */
  private checkpoint: (() => void) | undefined;
  /** RunOptions.signal of the current run. */
  private signal: AbortSignal | undefined;
  /** Experiment.cellTimeout of the current run, in seconds. */
  private cellTimeout = Number.POSITIVE_INFINITY;
  /** When training steps last ran the checkpoint. */
  private lastCheckpoint = 0;
  /** Plugin calls of the current run given up after their deadline. */
  private gaveUp = 0;

  /** Whether a stop was requested. */
  private get stopping(): boolean {
    return this.signal?.aborted === true;
  }

  /** Runs between training steps: the checkpoint (at most every 200 ms), then throws on a stop request or for given-up work. */
  private checkStep(): void {
    const now = performance.now();
    if (this.checkpoint && now - this.lastCheckpoint >= CHECKPOINT_INTERVAL_MS) {
      this.lastCheckpoint = now;
      this.checkpoint();
    }
    if (this.stopping) throw new RunStopped(this.signal?.reason);
    if (currentDeadline.getStore()?.abandoned) throw new Error('this cell was given up after its timeout');
  }

  /** A new deadline of `cellTimeout` seconds from now. */
  private deadline(): Deadline {
    return { at: performance.now() + this.cellTimeout * 1000, seconds: this.cellTimeout, abandoned: false };
  }

  /**
   * Calls a plugin hook (wrapping its errors, see callPlugin) within `deadline`: if the hook has not
   * settled by then, the call fails naming the plugin and the deadline is marked given up; a stop
   * request ends the wait at once. A hook that never yields (a synchronous loop) cannot be
   * interrupted here: JavaScript runs it to its end before any timer fires.
   */
  private async guard<T>(plugin: string, hook: string, fn: () => T | Promise<T>, deadline: Deadline = this.deadline()): Promise<T> {
    if (this.stopping) throw new RunStopped(this.signal?.reason);
    const work = currentDeadline.run(deadline, () => callPlugin(plugin, hook, fn));
    if (!Number.isFinite(deadline.at) && !this.signal) return work;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const signal = this.signal;
    const limit = new Promise<never>((_, reject) => {
      if (Number.isFinite(deadline.at)) {
        timer = setTimeout(() => {
          deadline.abandoned = true;
          this.gaveUp += 1;
          reject(
            new PluginFailedError(
              plugin,
              hook,
              new Error(`did not finish within the cell timeout of ${deadline.seconds} s (the manifest's "cellTimeout"): it never settled, or loops. Its cell failed and the run went on; raise "cellTimeout" if it needs longer.`),
            ),
          );
        }, Math.max(0, deadline.at - performance.now()));
      }
      if (signal) {
        onAbort = () => {
          // The hook's work goes on unawaited, like work given up at the timeout (see RunSummary.gaveUp).
          this.gaveUp += 1;
          reject(new RunStopped(signal.reason));
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      return await Promise.race([work, limit]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The logger, with the run's checkpoint at every progress event (each training epoch). */
  private get progressLogger(): Logger {
    const check = this.checkpoint;
    if (!check) return this.logger;
    const logger = this.logger;
    return {
      info: (message) => logger.info(message),
      warn: (message) => logger.warn(message),
      debug: (message) => logger.debug(message),
      progress: (event) => {
        check();
        logger.progress(event);
      },
    };
  }

  private context(rng: Rng, label: string, limit?: number): PluginContext {
    return { rng, logger: childLogger(this.progressLogger, label), engine: this.engine, meter: createBudgetMeter(limit), baseDir: this.baseDir };
  }

  private async loadDataset(experiment: Experiment, scope: Scope): Promise<{ data: DatasetSplit; featurize?: (texts: readonly string[]) => Promise<Float32Array> }> {
    const ref = experiment.dataset;
    const ctx = this.context(createRng(0).fork('dataset'), ref.label);
    const dataset = await this.guard(ref.use, 'create', () => ref.definition.create(ref.options as never, ctx));
    const raw = await this.guard(ref.use, 'load', () => dataset.load());
    const modelRef = experiment.model;
    const createFeaturizer = modelRef.definition.createFeaturizer;
    if (!createFeaturizer) {
      this.logger.info(`dataset ${ref.use}: ${raw.train.count} train / ${raw.test.count} test examples of shape [${raw.train.inputShape.join(', ')}], ${raw.numClasses} classes`);
      return { data: raw };
    }
    // Text: the model's frozen featurizer turns every text into features once for the whole run.
    const featurizer = scope.track(
      await this.guard(modelRef.use, 'createFeaturizer', () => createFeaturizer.call(modelRef.definition, modelRef.options as never, this.context(createRng(0).fork('featurizer'), modelRef.label))),
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
    loaded: LoadedData,
    scope: Scope,
    store: ResultsStore,
  ): Promise<GroupState> {
    const { data, featurize } = loaded;
    const rng = createRng(group.seed);
    const label = `seed ${group.seed} · ${group.attack.label}`;
    const modelRef = experiment.model;
    const shape = { inputShape: data.train.inputShape, numClasses: data.numClasses };
    const factory = await this.guard(modelRef.use, 'create', () =>
      modelRef.definition.create(modelRef.options as never, shape, this.context(rng.fork('model'), modelRef.label)),
    );

    const attackRef = group.attack;
    const attack = scope.track(
      await this.guard(attackRef.use, 'create', () => attackRef.definition.create(attackRef.options as never, this.context(rng.fork(`attack:${attackRef.label}`), `${label} · attack`))),
    );
    const attackStart = performance.now();
    const poison = await this.guard(attackRef.use, 'poison', () => attack.poison({ data, models: factory, training: experiment.training, featurize }));
    const attackSeconds = (performance.now() - attackStart) / 1000;
    checkShared([loaded.shared], attackRef.use, 'poison');
    this.logger.info(`${label}: attack ${attackRef.use} made ${poison.poisons.count} poison(s) in ${attackSeconds.toFixed(1)} s; clean set ${poison.clean.count}`);

    const metrics = [];
    for (const ref of experiment.metrics) {
      const definition = ref.definition;
      if (isSummaryMetric(definition)) continue; // experiment-level: runs on the aggregates after the run
      const worker = scope.track(await this.guard(ref.use, 'create', () => definition.create(ref.options as never, this.context(rng.fork(`metric:${ref.label}`), `${label} · ${ref.label}`))));
      metrics.push({ ref, worker });
    }

    const batch = divergenceBatch(poison.clean);
    const trained = (role: ModelRole, examples: Examples) => this.trainReference(experiment, group, role, examples, factory, rng, scope, store, batch);
    const poisoned = await trained('poisoned', concatExamples(poison.clean, poison.poisons));
    const retrained = await trained('retrained', poison.clean);
    return {
      group,
      data,
      rng,
      poison,
      attackSeconds,
      factory,
      poisoned: poisoned.model,
      poisonedCost: poisoned.cost,
      poisonedWeights: poisoned.model.getWeights(),
      retrained: retrained.model,
      retrainedCost: retrained.cost,
      metrics,
      poisonedDiverged: poisoned.diverged,
      retrainedDiverged: retrained.diverged,
      divergenceBatch: batch,
      // Snapshot after the references trained: training must not touch them either.
      shared: { dataset: loaded.shared, group: new SharedData({ retain: poison.clean, forget: poison.poisons, artifacts: poison.artifacts }) },
    };
  }

  /**
   * Trains (or loads from the output folder) the poisoned or retrained model of a group, and
   * checks it for divergence on `batch`. A cached file whose checksum or parameter shapes differ
   * from what was stored with it is refused.
   */
  private async trainReference(experiment: Experiment, group: GroupPlan, role: ModelRole, examples: Examples, factory: ModelFactory, rng: Rng, scope: Scope, store: ResultsStore, batch: Examples): Promise<ReferenceModel> {
    const model = scope.track(factory.build(rng.fork('model-init')));
    const shapes = parameterShapes(model);
    const relative = modelFile(group.key, role);
    const cached = store.getModel(group.key, role, group.versions);
    const label = `seed ${group.seed} · ${group.attack.label} · ${role}`;
    if (cached) {
      const refuse = (what: string) =>
        new StoreError(`The cached ${role} model '${cached.path}' does not match its record in results.db: ${what}. Delete the file ('rm ${shellQuote(cached.path)}') and rerun to retrain it.`);
      model.setWeights(loadWeights(cached.path, { sha256: cached.sha256, shapes }, refuse));
      this.logger.info(`${label}: loaded from ${cached.path} (trained earlier)`);
      const diverged = cached.finalLoss === null ? 'non-finite training loss' : divergence(model, batch);
      return { model, cost: { examples: cached.examples, seconds: cached.seconds, budgetExamples: null }, diverged };
    }
    const report = await trainSgdYielding(model, examples, {
      ...experiment.training,
      rng: rng.fork('train-order'),
      meter: createBudgetMeter(),
      logger: this.progressLogger,
      label,
    });
    const path = join(store.dir, relative);
    const sha256 = saveWeights(path, model.getWeights(), shapes);
    // No example trained (zero epochs) leaves the loss undefined, which is not a divergence.
    const finalLoss = Number.isFinite(report.finalLoss) ? report.finalLoss : report.examples === 0 ? 0 : null;
    store.putModel(group.key, role, { path: relative, examples: report.examples, seconds: report.seconds, sha256, shapes, finalLoss }, group.versions);
    const diverged = finalLoss === null ? 'non-finite training loss' : divergence(model, batch);
    return { model, cost: { examples: report.examples, seconds: report.seconds, budgetExamples: null }, diverged };
  }

  private async runCell(experiment: Experiment, state: GroupState, cell: CellPlan, groupContainer: DependencyContainer, store: ResultsStore, runId: number): Promise<void> {
    const meta = this.cellMeta(experiment, state);
    const deadline = this.deadline(); // shared by every plugin call of the cell
    // Every cell needs both references: the unlearners start from the poisoned model, and metrics
    // compare with both (accuracy drop, parameter distances). A diverged reference diverges them all.
    const reference = referenceDivergence(state, cell.role);
    if (cell.role === 'poisoned' || cell.role === 'retrained') {
      const [model, cost] = cell.role === 'poisoned' ? [state.poisoned, state.poisonedCost] : [state.retrained, state.retrainedCost];
      if (reference) this.writeDiverged(state, store, runId, cell, meta, cost, reference);
      else store.writeCell(runId, cell, meta, cost, await this.measure(state, model, cell.role, cost, deadline));
    } else if (reference) {
      const limit = budgetLimit(cell.budget, state.retrainedCost.examples);
      this.writeDiverged(state, store, runId, cell, meta, { examples: 0, seconds: 0, budgetExamples: Number.isFinite(limit) ? limit : null }, reference);
    } else {
      await this.runUnlearner(experiment, state, cell, groupContainer, store, runId, deadline);
    }
    store.appendJsonl(cell.key);
  }

  /** Stores a diverged cell: its reason, and a null value for every per-model metric entry. */
  private writeDiverged(state: GroupState, store: ResultsStore, runId: number, cell: CellPlan, meta: CellMeta, cost: CellCost, reason: string): void {
    const rows = state.metrics.map(({ ref }) => ({ metric: ref.label, value: Number.NaN }));
    store.writeCell(runId, cell, meta, cost, rows, reason);
    const model = cell.role === 'unlearned' ? `${cell.unlearner} @ ${formatBudget(cell.budget)}` : cell.unlearner;
    this.logger.warn(`seed ${cell.seed} · ${cell.attack} · ${model}: diverged (${reason}); no metric computed`);
  }

  private async runUnlearner(experiment: Experiment, state: GroupState, cell: CellPlan, groupContainer: DependencyContainer, store: ResultsStore, runId: number, deadline: Deadline): Promise<void> {
    const meta = this.cellMeta(experiment, state);
    const ref = cell.unlearnerRef!;
    const limit = budgetLimit(cell.budget, state.retrainedCost.examples);
    const cellContainer = groupContainer.createChildContainer();
    const scope = cellContainer.resolve(Scope);
    try {
      const ctx = this.context(state.rng.fork(`unlearner:${ref.label}:${cell.budget}`), `seed ${cell.seed} · ${cell.attack} · ${ref.label} @ ${formatBudget(cell.budget)}`, limit);
      const worker = scope.track(await this.guard(ref.use, 'create', () => ref.definition.create(ref.options as never, ctx), deadline));
      const fingerprint = weightsFingerprint(state.poisoned);
      const start = performance.now();
      // The runner's own count of the examples differentiated through the model and its clones.
      const counter = createComputeCounter();
      const model = counter.unwrap(await this.guard(ref.use, 'unlearn', () =>
        counter.run(() => worker.unlearn({ model: counter.model(state.poisoned), forget: state.poison.poisons, retain: state.poison.clean, training: experiment.training, models: counter.factory(state.factory) })),
      deadline));
      const seconds = (performance.now() - start) / 1000;
      if (model === state.poisoned || model === state.retrained) {
        throw new PluginFailedError(ref.use, 'unlearn', new Error('returned the model it was given; return a new model (e.g. model.clone())'));
      }
      scope.track(model);
      if (weightsFingerprint(state.poisoned) !== fingerprint) {
        state.poisoned.setWeights(state.poisonedWeights.map((w) => w.slice()));
        throw new PluginFailedError(ref.use, 'unlearn', new Error('mutated the poisoned model it was given; work on model.clone() instead'));
      }
      checkShared([state.shared.group], ref.use, 'unlearn'); // unlearners are given no more than these
      const overspent = computeProblem(counter.examples, ctx.meter.used, limit);
      if (overspent) throw new PluginFailedError(ref.use, 'unlearn', new Error(overspent));
      const warning = sameWeights(model, state.poisoned) ? 'returned a model identical to the poisoned one' : null;
      if (warning) this.logger.warn(`${ref.label} @ ${formatBudget(cell.budget)}: ${warning}`);
      this.logger.info(`${ref.label} @ ${formatBudget(cell.budget)}: ${counter.examples} of ${limit} budget examples in ${seconds.toFixed(1)} s`);
      const cost: CellCost = { examples: counter.examples, seconds, budgetExamples: Number.isFinite(limit) ? limit : null };
      const diverged = divergence(model, state.divergenceBatch);
      if (diverged) this.writeDiverged(state, store, runId, cell, meta, cost, `${diverged} after unlearning`);
      else store.writeCell(runId, cell, meta, cost, await this.measure(state, model, 'unlearned', cost, deadline), null, warning);
    } finally {
      // Work given up after the timeout may have reached the poisoned model before it was given up.
      if (deadline.abandoned) state.poisoned.setWeights(state.poisonedWeights.map((w) => w.slice()));
      await cellContainer.dispose();
    }
  }

  private cellMeta(experiment: Experiment, state: GroupState): CellMeta {
    return {
      experiment: experiment.name,
      backend: engineKey(this.engine),
      manifestHash: experiment.hash,
      attackExamples: state.poison.examplesUsed ?? 0,
      attackSeconds: state.attackSeconds,
    };
  }

  private async measure(state: GroupState, model: ClassifierModel, role: ModelRole, cost: CellCost, deadline: Deadline): Promise<MetricRow[]> {
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
      const results = await this.guard(ref.use, 'compute', () => worker.compute(input), deadline);
      checkShared([state.shared.dataset, state.shared.group], ref.use, 'compute');
      for (const result of Array.isArray(results) ? results : [results]) {
        rows.push({ metric: result.name ? `${ref.label}:${result.name}` : ref.label, value: result.value, details: result.details });
      }
    }
    return rows;
  }
}

/** Fails `plugin`'s `hook` if it changed any of the shared data in place (which is then restored). */
function checkShared(shared: readonly SharedData[], plugin: string, hook: string): void {
  const changed = shared.flatMap((s) => s.restoreChanged() ?? []);
  if (changed.length === 0) return;
  throw new PluginFailedError(
    plugin,
    hook,
    new Error(`changed data it was given in place (${changed.join(', ')}); the runner restored it for the other cells. Work on copies, e.g. Float32Array.from(retain.inputs).`),
  );
}

/** Why a cell with `role` cannot be computed because a reference model diverged (undefined: it can). */
function referenceDivergence(state: GroupState, role: ModelRole): string | undefined {
  const own = role === 'poisoned' ? state.poisonedDiverged : role === 'retrained' ? state.retrainedDiverged : undefined;
  if (own) return `${own} after training`;
  if (role !== 'poisoned' && state.poisonedDiverged) return `the poisoned model diverged (${state.poisonedDiverged} after training)`;
  if (role !== 'retrained' && state.retrainedDiverged) return `the retrained model diverged (${state.retrainedDiverged} after training)`;
  return undefined;
}

/** Every parameter's shape (models without the `parameters` capability: each weight array's length). */
function parameterShapes(model: ClassifierModel): number[][] {
  try {
    return model.parameters().map((v) => [...v.shape]);
  } catch {
    return model.getWeights().map((w) => [w.length]);
  }
}

/** Where a group's cached reference model lives, relative to the output folder. */
export function modelFile(groupKey: string, role: ModelRole): string {
  return join('models', `${groupKey.replace(/[^A-Za-z0-9=#.-]+/g, '_')}-${role}.weights`);
}

function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./=#-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

let exitGuards = 0;
let unguardedExit: typeof process.exit | undefined;

/**
 * While a run is in progress, `process.exit` (which a plugin must not call: it would end the run
 * with no table and a misleading exit code) throws instead, so the plugin's cell fails with a
 * message. Returns the function that lifts the guard (runs in one process may overlap).
 */
function guardProcessExit(): () => void {
  if (exitGuards++ === 0) {
    unguardedExit = process.exit;
    process.exit = ((code?: number | string | null) => {
      throw new Error(`called process.exit(${code ?? ''}); a plugin must throw an error instead of ending the process`);
    }) as typeof process.exit;
  }
  let lifted = false;
  return () => {
    if (lifted) return;
    lifted = true;
    if (--exitGuards === 0 && unguardedExit) process.exit = unguardedExit;
  };
}

/** Resolves on the next turn of the event loop. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The examples a cell's budget buys: a fraction of retraining's, or unlimited for an unbudgeted reference row. */
function budgetLimit(budget: number | null, retrainExamples: number): number {
  return budget === null ? Number.POSITIVE_INFINITY : Math.floor(budget * retrainExamples);
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

/** The stack of `error` and of each of its causes (a plugin's own frames are in the cause). */
function stackOf(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 8; e = e instanceof Error ? e.cause : undefined) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
  }
  return parts.join('\ncaused by: ');
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/**
 * Rewrites results.jsonl from the store before a run appends its cells to it (which also drops a
 * line cut short by a crash during an earlier append). Failing here (a full disk) fails no cell:
 * the cells are appended to the file as it is, and the run rewrites it again when it ends.
 */
export function rewriteExportAtStart(store: ResultsStore, logger: Logger): void {
  try {
    store.exportJsonl();
  } catch (error) {
    logger.warn(`results.jsonl was not rewritten before the run (${describe(error)}); its cells are appended to it as it is, and it is rewritten when the run ends`);
  }
}
