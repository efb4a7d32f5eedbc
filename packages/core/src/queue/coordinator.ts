/**
 * `unlearn-bench run <manifest> --queue redis://…`: the coordinator. It plans the cells as a local
 * run does, puts one BullMQ job per seed × attack group with unfinished cells on the queue, and
 * writes every finished cell the workers send back into the store of its output folder, which it
 * alone writes (one transaction per cell; a cell already stored is skipped, so a result that
 * arrives twice is recorded once).
 *
 * Everything it needs to go on is in Redis or the store: a job's result stays in the queue's
 * completed set until the coordinator has stored it and removed the job, so a coordinator killed at
 * any point and started again finds the jobs of its run (by the run id in the output folder's
 * `queue.json`), stores what finished meanwhile, follows those still waiting or running, and queues
 * the groups that have none. A job that Redis lost (a restart without persistence) is queued again.
 */
import { Job, Queue, QueueEvents } from 'bullmq';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { engineKey, type EngineInfo } from '../engine.ts';
import type { Experiment } from '../manifest/manifest.ts';
import type { Registry } from '../plugin/registry.ts';
import { lockFolder, removeStaleTemporaries, writeFileAtomic, type FolderLock } from '../runner/files.ts';
import { planCells, type GroupPlan } from '../runner/plan.ts';
import { modelFile, rewriteExportAtStart, type Runner, type RunSummary } from '../runner/runner.ts';
import { ResultsStore } from '../runner/store.ts';
import { selectSummaryMetrics, writeSummaryJsonl } from '../runner/summary.ts';
import { connectRedis, type QueueUrl } from './connection.ts';
import { liveDisplay, lineDisplay, type JobView, type QueueDisplay } from './display.ts';
import {
  JOB_FORMAT,
  KEY_TTL_SECONDS,
  QUEUE_NAME,
  jobResultProblem,
  modelKey,
  resultKey,
  stopKey,
  versionsOf,
  type GroupJob,
  type GroupResult,
  type JobProgress,
  type ModelTransfer,
  type ResultPointer,
} from './protocol.ts';

/** What a coordinator needs. */
export interface CoordinatorOptions {
  readonly queue: QueueUrl;
  readonly experiment: Experiment;
  /** The manifest's path as given on the command line. */
  readonly manifestPath: string;
  readonly engine: EngineInfo;
  readonly registry: Registry;
  /** Writes run.json and describes the run (the same as a local run's). */
  readonly runner: Runner;
  /** unlearn-bench's version (the CLI's). */
  readonly version: string;
  readonly outDir: string;
  /** Where messages and progress go. */
  readonly stderr: TextSinkWithTty;
  /** Bars on a terminal (else a line per event). */
  readonly live: boolean;
  readonly quiet: boolean;
  /** Aborted with a signal name: stop the run (see coordinateQueue). */
  readonly stop: AbortSignal;
}

/** A sink that may be a terminal stream (for the bars). */
export interface TextSinkWithTty {
  write(text: string): unknown;
}

/**
 * What a coordinated run did, as a local run reports it (the CLI prints the table and totals from
 * it): `cellsComputed` counts the cells this run stored, `cellsSkipped` those finished before it.
 */
export type CoordinatorSummary = Omit<RunSummary, 'gaveUp'>;

/** A job of this run the coordinator follows (one per group at most). */
interface Tracked {
  readonly id: string;
  state: string;
  worker?: string;
  done: number;
  total: number;
  step: string;
}

const HOST = hostname();

/** How often the coordinator looks at its jobs when no event wakes it. */
const POLL_MS = 1000;

/** Why BullMQ failed a job, said for this program's users. */
function explainFailure(reason: string): string {
  if (/stalled more than allowable limit/i.test(reason)) {
    return 'the workers computing it stopped (killed, or cut off from Redis) twice, so BullMQ gave up on it; rerun to retry';
  }
  return `the job failed on its worker: ${reason}`;
}

/**
 * The run id of output folder `outDir` (a random 16-hex id in `queue.json`, made on first use):
 * the coordinator finds its jobs by it after a restart. One folder, one run id.
 */
export function runId(outDir: string): string {
  const path = join(outDir, 'queue.json');
  if (existsSync(path)) {
    const run = (JSON.parse(readFileSync(path, 'utf8')) as { run?: unknown }).run;
    if (typeof run === 'string' && /^[0-9a-f]{16}$/.test(run)) return run;
  }
  const run = randomBytes(8).toString('hex');
  writeFileAtomic(path, `${JSON.stringify({ run, note: 'the id of this folder’s run on a queue (unlearn-bench run --queue): a restarted coordinator finds its jobs by it' }, null, 2)}\n`);
  return run;
}

/**
 * Runs `options.experiment` on the queue's workers until every job has finished or failed.
 * `options.stop` aborted (Ctrl-C) stops the run: the jobs no worker has taken are removed, the
 * workers computing the others are asked (through Redis) to stop at their next safe point, and
 * what they finished is stored before it returns with `stopped`.
 */
export async function coordinateQueue(options: CoordinatorOptions): Promise<CoordinatorSummary> {
  const start = performance.now();
  const { experiment, outDir } = options;
  const display: QueueDisplay = options.live ? liveDisplay(options.stderr as NodeJS.WritableStream) : lineDisplay(options.stderr, options.quiet);
  const info = (line: string) => {
    if (!options.quiet) display.log(line);
  };
  const warn = (line: string) => display.log(`warning: ${line}`);
  const redis = await connectRedis(options.queue, `unlearn-bench coordinator ${HOST}:${process.pid}`, {
    lost: (reason) => warn(`lost the connection to Redis at ${options.queue.shown} (${reason}); waiting for it to come back (the workers wait too)`),
    back: () => info(`reconnected to Redis at ${options.queue.shown}; checking the run's jobs`),
  });
  let lock: FolderLock | undefined;
  let store: ResultsStore;
  try {
    mkdirSync(join(outDir, 'models'), { recursive: true });
    lock = lockFolder(outDir);
    removeStaleTemporaries([outDir, join(outDir, 'models')]);
    store = new ResultsStore(outDir);
  } catch (error) {
    (lock as FolderLock | undefined)?.release();
    redis.disconnect();
    display.stop();
    throw error;
  }
  // Whole, before the jobs' cells are appended to it.
  rewriteExportAtStart(store, { info, warn, debug: () => {}, progress: () => {} });
  const events = new QueueEvents(QUEUE_NAME, { connection: redis.duplicate() });
  const queue = new Queue(QUEUE_NAME, { connection: redis });
  events.on('error', () => {}); // the connection's own watch reports outages
  queue.on('error', () => {});
  try {
    const key = engineKey(options.engine);
    const plan = planCells(experiment, key);
    const cellsTotal = plan.reduce((n, g) => n + g.cells.length, 0);
    const finishedBefore = plan.reduce((n, g) => n + g.cells.filter((c) => store.hasCell(c)).length, 0);
    const run = runId(outDir);
    const runRow = store.startRun(experiment.name, experiment.hash, { ...options.runner.runInfo(experiment), queue: options.queue.shown, run });
    options.runner.writeRunInfo(experiment, outDir, runRow);
    await redis.del(stopKey(run)); // a stop request of an earlier coordinator of this folder is over
    const versions = versionsOf(options.version, options.registry);
    const manifestText = readFileSync(options.manifestPath, 'utf8');
    const fromHere = relative(process.cwd(), resolve(options.manifestPath));
    const manifestPath = fromHere.startsWith('..') || isAbsolute(fromHere) ? resolve(options.manifestPath) : fromHere;

    const tracked = new Map<number, Tracked>();
    const failedCells = new Set<string>();
    const failures: { cell: string; message: string }[] = [];
    let computed = 0;
    let stopping = false;
    const refusals = new Set<string>();
    const indexOf = new Map(plan.map((g, i) => [g.key, i]));
    // This process alone writes the store while it holds the folder's lock: the finished cells are
    // known in memory (the status is redrawn at every progress message).
    const stored = new Set(plan.flatMap((g) => g.cells.filter((c) => store.hasCell(c)).map((c) => c.key)));
    const remaining = (index: number) => plan[index].cells.filter((c) => !failedCells.has(c.key) && !stored.has(c.key));
    const trackedBy = (jobId: string): [number, Tracked] | undefined => [...tracked].find(([, t]) => t.id === jobId);
    const view = (index: number, t: Tracked): JobView => ({ label: label(plan[index]), worker: t.worker, done: t.done, total: t.total, step: t.step });
    const deleteKeys = (jobId: string) => redis.del(resultKey(jobId), ...(['in', 'out'] as const).flatMap((d) => (['poisoned', 'retrained'] as const).map((r) => modelKey(jobId, d, r))));

    info(`backend: ${options.engine.backend} (${options.engine.reason})`);
    info(`${experiment.name}: ${plan.length} seed × attack group(s), ${cellsTotal} cell(s); coordinating on ${options.queue.shown} (run ${run}); output in ${outDir}`);
    if (finishedBefore > 0) info(`${finishedBefore} cell(s) already finished in ${outDir}; skipping them`);

    /** Stores a model a worker trained; one that is gone or damaged is retrained when needed. */
    const storeModel = async (group: GroupPlan, model: ModelTransfer) => {
      const bytes = await redis.getBuffer(model.key);
      if (!bytes || createHash('sha256').update(bytes).digest('hex') !== model.record.sha256) {
        warn(`the ${model.role} model of ${label(group)} is ${bytes ? 'damaged in Redis' : 'gone from Redis'}; not cached (a later run retrains it if it needs it)`);
        return;
      }
      const path = modelFile(group.key, model.role);
      writeFileAtomic(join(outDir, path), bytes);
      store.putModel(group.key, model.role, { path, ...model.record }, group.versions);
    };

    /** Stores a finished job's cells, failures and models, then removes the job. */
    const collect = async (index: number, job: Job) => {
      const group = plan[index];
      const asked = new Set((job.data as GroupJob).cells);
      const pointer = job.returnvalue as ResultPointer | undefined;
      const text = typeof pointer?.key === 'string' && pointer.key === resultKey(job.id!) ? await redis.get(pointer.key) : null;
      let result: GroupResult | undefined;
      try {
        result = text === null ? undefined : (JSON.parse(text) as GroupResult);
      } catch {
        result = undefined;
      }
      const problem = text === null ? `its result is not in Redis (${pointer?.key ?? 'no key'}: expired, or not written)` : jobResultProblem(result);
      if (problem !== undefined || !result) {
        for (const cell of remaining(index)) if (asked.has(cell.key)) fail(cell.key, `its worker returned a result this coordinator cannot read (${problem}); rerun to retry`);
      } else {
        for (const model of result.models) await storeModel(group, model);
        let duplicates = 0;
        for (const cell of result.cells) {
          const identity = group.cells.find((c) => c.key === cell.key);
          if (!identity || !asked.has(cell.key)) continue;
          if (stored.has(cell.key)) {
            duplicates += 1;
            continue;
          }
          store.writeStoredCell(runRow, identity, cell);
          stored.add(cell.key);
          try {
            store.appendJsonl(cell.key);
          } catch (error) {
            warn(`cell ${cell.key} is stored in results.db, but then: ${(error as Error).message}`);
          }
          computed += 1;
        }
        if (duplicates > 0) info(`${label(group)}: ${duplicates} cell(s) from ${result.host} were stored already; kept the stored ones`);
        for (const failure of result.failures) {
          const identity = group.cells.find((c) => c.key === failure.cell);
          if (identity && asked.has(failure.cell) && !stored.has(failure.cell)) fail(failure.cell, `${failure.message} (on ${result.host})`);
        }
        if (result.stopped && !stopping) info(`${result.host} (pid ${result.pid}) stopped (${result.stopped}) before finishing ${label(group)}; its other cells go back on the queue`);
        if (!result.stopped) {
          // Every cell a job asked for comes back finished or failed; one that does neither must not be queued for ever.
          for (const cell of remaining(index)) if (asked.has(cell.key)) fail(cell.key, `${result.host} returned the job without computing this cell or saying why; rerun to retry`);
        }
      }
      await job.remove().catch(() => {});
      await deleteKeys(job.id!);
    };

    const fail = (cell: string, message: string) => {
      failedCells.add(cell);
      failures.push({ cell, message });
      store.recordFailure(runRow, cell, message);
      warn(`cell ${cell} failed: ${message}`);
    };

    const enqueue = async (index: number) => {
      const group = plan[index];
      const id = `${run}-${index}-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
      const models: ModelTransfer[] = [];
      for (const role of ['poisoned', 'retrained'] as const) {
        const model = store.getModel(group.key, role, group.versions);
        if (!model) continue;
        const modelKeyIn = modelKey(id, 'in', role);
        await redis.set(modelKeyIn, readFileSync(model.path), 'EX', KEY_TTL_SECONDS);
        const { examples, seconds, sha256, shapes, finalLoss } = model;
        models.push({ role, key: modelKeyIn, record: { examples, seconds, sha256, shapes, finalLoss } });
      }
      const cells = remaining(index).map((c) => c.key);
      const data: GroupJob = {
        format: JOB_FORMAT,
        run,
        coordinator: { host: HOST, pid: process.pid, outDir },
        versions,
        manifest: { text: manifestText, path: manifestPath, hash: experiment.hash },
        backend: options.engine.backend,
        engine: key,
        group: { index, key: group.key, label: label(group) },
        cells,
        models,
      };
      await queue.add('group', data, { jobId: id, attempts: 1 });
      tracked.set(index, { id, state: 'waiting', done: 0, total: cells.length, step: 'waiting for a worker' });
    };

    // Wake the loop when something happens to one of this run's jobs.
    let wake: (() => void) | undefined;
    const poke = () => wake?.();
    events.on('progress', ({ jobId, data }) => {
      const found = trackedBy(jobId);
      if (!found) return;
      const [index, t] = found;
      const message = data as JobProgress;
      if (!message || typeof message !== 'object' || typeof message.host !== 'string') return;
      t.worker = `${message.host}:${message.pid}`;
      if (message.type === 'refused') {
        const text = `worker ${t.worker} refused ${label(plan[index])} and stopped: ${message.message}`;
        if (!refusals.has(text)) warn(text);
        refusals.add(text);
        t.worker = undefined;
        t.step = 'back on the queue';
      } else if (message.type === 'start') {
        t.state = 'active';
        t.total = message.cells;
        t.step = 'starting';
        display.step(jobId, view(index, t));
      } else if (message.type === 'cell') {
        t.state = 'active';
        t.done = Math.max(0, t.total - message.total) + message.done;
        t.step = message.label;
        display.cell(jobId, { ...view(index, t), done: message.done, total: message.total });
      } else if (message.type === 'step') {
        t.step = message.text.trim();
        display.step(jobId, view(index, t));
      }
      showStatus();
    });
    events.on('stalled', ({ jobId }) => {
      const found = trackedBy(jobId);
      if (!found) return;
      const [index, t] = found;
      warn(`the worker computing ${label(plan[index])} (${t.worker ?? 'unknown'}) stopped renewing its claim (killed, or cut off from Redis); the job is back on the queue for another worker`);
      t.worker = undefined;
      t.done = 0;
      t.state = 'waiting';
      t.step = 'back on the queue';
      display.end(jobId);
      poke();
    });
    for (const event of ['completed', 'failed', 'active', 'removed'] as const) events.on(event, poke);

    const showStatus = () => {
      let running = 0;
      let waiting = 0;
      const workers: string[] = [];
      let inFlight = 0;
      for (const t of tracked.values()) {
        if (t.state === 'active') {
          running += 1;
          inFlight += t.done;
          if (t.worker) workers.push(t.worker);
        } else waiting += 1;
      }
      const done = stored.size;
      const progress = done - finishedBefore + inFlight;
      const elapsed = (performance.now() - start) / 1000;
      const toDo = cellsTotal - finishedBefore - failedCells.size;
      display.status({
        groups: plan.length,
        groupsDone: plan.length - tracked.size - plan.filter((_, i) => !tracked.has(i) && remaining(i).length > 0).length,
        groupsRunning: running,
        groupsWaiting: waiting,
        cellsDone: done + inFlight,
        cellsTotal,
        workers: [...new Set(workers)].sort(),
        ...(progress > 0 ? { eta: (elapsed / progress) * Math.max(0, toDo - progress) } : {}),
      });
    };

    // A restarted coordinator takes over the jobs of its run: stores the finished, follows the others.
    const existing = new Map<string, Job>();
    for (const job of await queue.getJobs(['wait', 'waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed'])) {
      if (job?.id?.startsWith(`${run}-`)) existing.set(job.id, job);
    }
    let collected = 0;
    for (const job of existing.values()) {
      const state = await job.getState();
      const index = indexOf.get((job.data as GroupJob | undefined)?.group?.key ?? '');
      if (index === undefined || state === 'failed' || tracked.has(index)) {
        // Another manifest's job, a failure of an earlier session (rerunning retries it), or a duplicate.
        if (state !== 'active') {
          await job.remove().catch(() => {});
          await deleteKeys(job.id!);
        }
        continue;
      }
      if (state === 'completed') {
        await collect(index, job);
        collected += 1;
      } else {
        tracked.set(index, { id: job.id!, state: state === 'active' ? 'active' : 'waiting', done: 0, total: (job.data as GroupJob).cells.length, step: state === 'active' ? 'running' : 'waiting for a worker' });
      }
    }
    if (existing.size > 0) info(`found ${existing.size} job(s) of this run on the queue: ${collected} finished meanwhile (stored), ${tracked.size} still waiting or running (followed)`);

    let stopNow: (() => void) | undefined;
    const onStop = () => {
      stopNow?.();
      poke();
    };
    options.stop.addEventListener('abort', onStop, { once: true });
    try {
      for (;;) {
        if (options.stop.aborted && !stopping) {
          stopping = true;
          await redis.set(stopKey(run), String(options.stop.reason), 'EX', KEY_TTL_SECONDS);
          for (const [index, t] of [...tracked]) {
            if (t.state === 'active') continue;
            const job = await Job.fromId(queue, t.id);
            const removed = job ? await job.remove().then(() => true, () => false) : true;
            if (removed) {
              tracked.delete(index);
              await deleteKeys(t.id);
            }
          }
          if (tracked.size > 0) info(`asked the workers computing ${tracked.size} group(s) to stop at their next safe point; waiting for their finished cells`);
        }
        if (!stopping) {
          for (let index = 0; index < plan.length; index++) if (!tracked.has(index) && remaining(index).length > 0) await enqueue(index);
        }
        showStatus();
        if (tracked.size === 0) break;
        await new Promise<void>((resolveWait) => {
          const timer = setTimeout(done, POLL_MS);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            stopNow = undefined;
            resolveWait();
          }
          wake = done;
          stopNow = done;
        });
        for (const [index, t] of [...tracked]) {
          const state = await queue.getJobState(t.id);
          if (state === 'completed' || state === 'failed') {
            const job = await Job.fromId(queue, t.id);
            tracked.delete(index);
            display.end(t.id);
            if (!job) continue;
            if (state === 'completed') await collect(index, job);
            else {
              const message = explainFailure(job.failedReason ?? 'no reason given');
              for (const cell of remaining(index)) if ((job.data as GroupJob).cells.includes(cell.key)) fail(cell.key, message);
              await job.remove().catch(() => {});
              await deleteKeys(t.id);
            }
          } else if (state === 'unknown') {
            tracked.delete(index);
            display.end(t.id);
            if (!stopping) warn(`the job of ${label(plan[index])} is gone from Redis (restarted without persistence, or removed by hand); queuing it again`);
          } else if (state !== 'active' && t.state === 'active') {
            t.state = 'waiting';
          } else if (state === 'active') {
            t.state = 'active';
          }
        }
      }
    } finally {
      options.stop.removeEventListener('abort', onStop);
      display.stop();
    }

    const stopped = stopping ? String(options.stop.reason) : undefined;
    if (stopped) await redis.del(stopKey(run)); // no worker computes a job of this run any more
    if (!stopped) store.finishRun(runRow);
    const resultsPath = store.exportJsonl();
    const keys = new Set(plan.flatMap((g) => g.cells.filter((c) => store.hasCell(c)).map((c) => c.key)));
    const records = store.records().filter((r) => keys.has(r.cell));
    const summaries = selectSummaryMetrics(experiment.metrics, options.registry, experiment.name, experiment.selection);
    writeSummaryJsonl(outDir, records, summaries);
    return {
      cellsTotal,
      cellsComputed: computed,
      cellsSkipped: finishedBefore,
      failures,
      seconds: (performance.now() - start) / 1000,
      resultsPath,
      databasePath: join(outDir, 'results.db'),
      records,
      summaries,
      ...(stopped ? { stopped } : {}),
    };
  } finally {
    await events.close().catch(() => {});
    await queue.close().catch(() => {});
    redis.disconnect();
    store.close();
    lock.release();
  }
}

/** `seed 1 · gaussian`. */
function label(group: GroupPlan): string {
  return `seed ${group.seed} · ${group.attack.label}`;
}
