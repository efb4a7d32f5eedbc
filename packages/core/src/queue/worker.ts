/**
 * `unlearn-bench worker --queue redis://…`: takes group jobs from the queue and computes them. This
 * process only talks to Redis (it holds each job's lock and renews it); the computing runs in a
 * child process per job — the same `run --groups` worker as a local `--workers` run, in a scratch
 * folder — so a long synchronous step never delays the lock renewal, and a worker killed by
 * SIGKILL takes its child with it (the child checks for its parent, see the CLI's `--groups`).
 * BullMQ then sees the job's lock expire and hands the job to another worker (stalled-job
 * detection).
 *
 * Before computing, a job is checked: a payload that is not a job is failed with a message; a job
 * this worker would compute differently (another unlearn-bench, tfjs or plugin version, a plugin
 * it cannot load, another engine, a plan whose keys differ) is put back on the queue for another
 * worker, and this worker stops with the reason (exit 2), since it would refuse the run's other
 * jobs too.
 */
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { CliHost } from '../cli/cli.ts';
import { engineKey, type BackendName, type EngineInfo } from '../engine.ts';
import type { Logger, TextSink } from '../logger.ts';
import { parseManifest, type Experiment } from '../manifest/manifest.ts';
import { loadManifestTextPlugins } from '../manifest/plugins.ts';
import { buildRegistry, type Registry } from '../plugin/registry.ts';
import { writeFileAtomic } from '../runner/files.ts';
import { planCells, type GroupPlan } from '../runner/plan.ts';
import { modelFile } from '../runner/runner.ts';
import { ResultsStore, type StoredCell } from '../runner/store.ts';
import { runWorkers, type WorkerProgressDisplay } from '../runner/workers.ts';
import { connectRedis, type QueueUrl } from './connection.ts';
import {
  JOB_FORMAT,
  KEY_TTL_SECONDS,
  QUEUE_NAME,
  jobPayloadProblem,
  modelKey,
  resultKey,
  stopKey,
  versionMismatch,
  versionsOf,
  type GroupJob,
  type GroupResult,
  type JobProgress,
  type ModelTransfer,
  type ResultPointer,
} from './protocol.ts';

/** How to run a queue worker. */
export interface QueueWorkerOptions {
  readonly queue: QueueUrl;
  /** Jobs computed at once, each in its own child process (the cores are split between them). */
  readonly concurrency: number;
  /**
   * Seconds a job's lock lasts without renewal, and between BullMQ's checks for expired locks: a
   * killed worker's job goes to another worker after one to two of these. @default 30 (BullMQ's)
   */
  readonly stallSeconds: number;
  readonly host: CliHost;
  readonly logger: Logger;
  readonly debug: boolean;
  readonly quiet: boolean;
}

/** This machine's name, as the coordinator shows it. */
const HOST = hostname();

/** Shortest interval between two step messages a job sends the coordinator. */
const STEP_INTERVAL_MS = 1000;

/** Runs a worker until it is stopped (exit 130/143) or refuses a job (exit 2). */
export async function runQueueWorker(options: QueueWorkerOptions): Promise<number> {
  const { host, logger } = options;
  const redis = await connectRedis(options.queue, `unlearn-bench worker ${HOST}:${process.pid}`, {
    lost: (reason) => logger.warn(`lost the connection to Redis at ${options.queue.shown} (${reason}); reconnecting, the jobs in progress go on`),
    back: () => logger.info(`reconnected to Redis at ${options.queue.shown}`),
  });
  const scratchRoot = join(tmpdir(), 'unlearn-bench-worker');
  mkdirSync(scratchRoot, { recursive: true });
  removeDeadScratch(scratchRoot);
  const engines = new Map<string, Promise<EngineInfo>>();
  const stopAll = new AbortController();
  const killAll = new AbortController();
  let refusal: string | undefined;
  const threads = process.env.UNLEARN_BENCH_WASM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / options.concurrency)));
  const progress = (job: Job, message: JobProgress) => job.updateProgress(message).catch(() => {});
  /** Jobs being processed now. */
  let active = 0;

  const refuse = async (job: Job, token: string | undefined, label: string, reason: string): Promise<never> => {
    const message = `refused job ${job.id} (${label}): ${reason}`;
    await job.log(message).catch(() => {});
    await progress(job, { type: 'refused', host: HOST, pid: process.pid, message: reason });
    await job.moveToWait(token);
    if (refusal === undefined) {
      refusal = message;
      void worker.close(); // takes no further job; this one has gone back to the queue
    }
    throw new WaitingError();
  };

  /** Checks a job and returns what computing it needs; refuses or fails it otherwise. */
  const check = async (job: Job, token: string | undefined): Promise<{ payload: GroupJob; group: GroupPlan; baseDir: string }> => {
    const data = job.data as unknown;
    const format = (data as { format?: unknown } | null)?.format;
    if (typeof format === 'number' && format !== JOB_FORMAT) {
      return refuse(job, token, 'a job of another format', `its payload is format ${format}, this worker reads format ${JOB_FORMAT}: run workers of the coordinator's unlearn-bench version.`);
    }
    const problem = jobPayloadProblem(data);
    if (problem !== undefined) {
      logger.warn(`job ${job.id} is not an unlearn-bench group job (${problem}); failed it`);
      throw new UnrecoverableError(`not an unlearn-bench group job: ${problem}. Jobs on the queue '${QUEUE_NAME}' are made by 'unlearn-bench run --queue'.`);
    }
    const payload = data as GroupJob;
    const label = `${payload.group.label} of ${payload.coordinator.host}:${payload.coordinator.outDir}`;
    const theirs = payload.versions['unlearn-bench'];
    if (theirs !== host.version) return refuse(job, token, label, `the coordinator runs unlearn-bench ${theirs ?? '(unknown)'}, this worker ${host.version}: start workers of the same version.`);
    const baseDir = dirname(resolve(payload.manifest.path));
    let registry: Registry;
    try {
      registry = buildRegistry([...host.plugins, ...(await loadManifestTextPlugins(payload.manifest.text, baseDir, logger.warn))], host.plugins);
    } catch (error) {
      return refuse(job, token, label, `${(error as Error).message} (a worker looks for the manifest's plugins relative to ${baseDir}: the manifest's folder '${dirname(payload.manifest.path)}' under its own working directory; start it where the coordinator's files are, or install the plugin there).`);
    }
    const mismatch = versionMismatch(payload.versions, versionsOf(host.version, registry));
    if (mismatch) return refuse(job, token, label, `${mismatch}. A worker computes only with the versions the coordinator planned with: install the same versions here.`);
    let experiment: Experiment;
    try {
      experiment = parseManifest(payload.manifest.text, registry, `the manifest of job ${job.id}`, baseDir);
    } catch (error) {
      throw new UnrecoverableError(`its manifest is invalid here although every version matches the coordinator's: ${(error as Error).message}`);
    }
    if (experiment.hash !== payload.manifest.hash) {
      return refuse(job, token, label, `the manifest resolves to hash ${experiment.hash.slice(0, 12)} here and ${payload.manifest.hash.slice(0, 12)} at the coordinator (defaults differ): run workers of the same code.`);
    }
    let engine: EngineInfo;
    try {
      engine = await engineFor(payload.backend as BackendName);
    } catch (error) {
      return refuse(job, token, label, `cannot start the ${payload.backend} backend here: ${(error as Error).message}`);
    }
    if (engineKey(engine) !== payload.engine) {
      return refuse(
        job,
        token,
        label,
        `this worker computes on ${engineKey(engine)} (${engine.reason}), the coordinator planned the cells on ${payload.engine}; their numbers differ in the last digits. Give both the same kernels (e.g. OpenBLAS for native-blas on both, or neither).`,
      );
    }
    const group = planCells(experiment, payload.engine)[payload.group.index];
    if (group?.key !== payload.group.key) {
      return refuse(job, token, label, `group ${payload.group.index} of the manifest is '${group?.key ?? '(none)'}' here, '${payload.group.key}' at the coordinator: run workers of the same code.`);
    }
    const known = new Set(group.cells.map((c) => c.key));
    const unknown = payload.cells.filter((key) => !known.has(key));
    if (unknown.length > 0) throw new UnrecoverableError(`the job names cells that are not in its group: ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', …' : ''}`);
    return { payload, group, baseDir };
  };

  const engineFor = (backend: BackendName): Promise<EngineInfo> => {
    let engine = engines.get(backend);
    if (!engine) {
      engine = host.createEngine(backend);
      engines.set(backend, engine);
    }
    return engine;
  };

  /** Computes a checked job in a child process in a scratch folder and collects what it finished. */
  const compute = async (job: Job, payload: GroupJob, group: GroupPlan, baseDir: string): Promise<ResultPointer> => {
    const start = performance.now();
    const scratch = mkdtempSync(join(scratchRoot, `${process.pid}-`));
    const prefix = `[${payload.group.label}] `;
    try {
      const given = await receiveModels(redis, payload, group, scratch, (message) => logger.warn(`${prefix}${message}`));
      const manifestPath = join(scratch, 'manifest.json');
      const cellsFile = join(scratch, 'cells.json');
      writeFileSync(manifestPath, payload.manifest.text);
      writeFileSync(cellsFile, JSON.stringify(payload.cells));
      logger.info(`job ${job.id}: ${payload.group.label}, ${payload.cells.length} cell(s) for ${payload.coordinator.host}:${payload.coordinator.outDir}`);
      await progress(job, { type: 'start', host: HOST, pid: process.pid, cells: payload.cells.length });

      // Stop at the next safe point when this worker stops or the coordinator asks (its Ctrl-C).
      const stop = new AbortController();
      const stopFile = join(scratch, 'run.stop');
      const requestStop = (reason: string) => {
        if (stop.signal.aborted) return;
        writeFileSync(stopFile, `${reason}\n`);
        stop.abort(reason);
      };
      const onStopAll = () => requestStop(String(stopAll.signal.reason));
      if (stopAll.signal.aborted) onStopAll();
      else stopAll.signal.addEventListener('abort', onStopAll, { once: true });
      const watchCoordinator = setInterval(() => {
        redis.exists(stopKey(payload.run)).then((n) => n > 0 && requestStop('SIGINT'), () => {});
      }, 1000);
      let lastStep = 0;
      const display: WorkerProgressDisplay = {
        update: (_index, message) => {
          if (message.type === 'cell') {
            if (!options.quiet) host.stderr.write(`${prefix}[cell ${message.done + 1}/${message.total}] ${message.label}\n`);
            void progress(job, { type: 'cell', host: HOST, pid: process.pid, done: message.done, total: message.total, label: message.label });
          } else {
            if (!options.quiet) host.stderr.write(`${prefix}  ${message.text}\n`);
            if (Date.now() - lastStep < STEP_INTERVAL_MS) return;
            lastStep = Date.now();
            void progress(job, { type: 'step', host: HOST, pid: process.pid, text: message.text });
          }
        },
        finish: () => {},
      };
      let lastError = '';
      const sink: TextSink = {
        write: (text: string) => {
          const line = text.replace(/\n$/, '');
          if (/^error: /.test(line)) lastError = line.slice('error: '.length);
          return host.stderr.write(`${prefix}${line}\n`);
        },
      };
      const [exit] = await runWorkers(
        {
          binPath: host.binPath,
          manifestPath,
          outDir: scratch,
          backend: payload.backend,
          assignments: [[payload.group.index]],
          debug: options.debug,
          quiet: options.quiet,
          env: { UNLEARN_BENCH_MANIFEST_DIR: baseDir, UNLEARN_BENCH_CELLS_FILE: cellsFile, UNLEARN_BENCH_WASM_THREADS: threads },
        },
        sink,
        { stop: stop.signal, kill: killAll.signal, stopFile },
        display,
      ).finally(() => {
        clearInterval(watchCoordinator);
        stopAll.signal.removeEventListener('abort', onStopAll);
      });
      const stopped = stop.signal.aborted ? String(stop.signal.reason) : undefined;
      if (!stopped && exit.code === 2) throw new Error(`the group could not start on ${HOST}: ${lastError || 'see the worker output'}`);

      const store = new ResultsStore(scratch);
      try {
        const cells = payload.cells.map((key) => store.storedCell(key)).filter((cell): cell is StoredCell => cell !== undefined);
        const finished = new Set(cells.map((c) => c.key));
        const failures = store.unfinishedFailures().filter((f) => payload.cells.includes(f.cell) && !finished.has(f.cell));
        if (!stopped && exit.code !== 0) {
          // A compute process that died (killed, out of memory) could not record its unfinished cells.
          const why = exit.signal ? `was killed (${exit.signal})` : `ended with exit code ${exit.code}`;
          for (const cell of payload.cells) {
            if (finished.has(cell) || failures.some((f) => f.cell === cell)) continue;
            failures.push({ cell, message: `the compute process on ${HOST} ${why} before finishing it; rerun to compute it` });
          }
        }
        const models = await sendModels(redis, job.id!, group, store, given);
        const result: GroupResult = { format: JOB_FORMAT, host: HOST, pid: process.pid, cells, failures, models, ...(stopped ? { stopped } : {}), seconds: (performance.now() - start) / 1000 };
        logger.info(
          `job ${job.id}: ${cells.length} cell(s) finished, ${failures.length} failed${stopped ? `, stopped (${stopped}) before the other ${payload.cells.length - cells.length - failures.length}` : ''} in ${result.seconds.toFixed(1)} s`,
        );
        const key = resultKey(job.id!);
        await redis.set(key, JSON.stringify(result), 'EX', KEY_TTL_SECONDS);
        return { format: JOB_FORMAT, key };
      } finally {
        store.close();
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };

  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job, token?: string) => {
      active += 1;
      try {
        const { payload, group, baseDir } = await check(job, token);
        return await compute(job, payload, group, baseDir);
      } catch (error) {
        if (error instanceof WaitingError || error instanceof UnrecoverableError) throw error;
        logger.warn(`job ${job.id} failed: ${(error as Error).message}`);
        throw error;
      } finally {
        active -= 1;
      }
    },
    {
      connection: redis,
      concurrency: options.concurrency,
      lockDuration: options.stallSeconds * 1000,
      stalledInterval: options.stallSeconds * 1000,
      autorun: false,
    },
  );
  let lastWorkerError = '';
  worker.on('error', (error: Error) => {
    if (error.message === lastWorkerError) return;
    lastWorkerError = error.message;
    const job = /(?:for job|lock for job) (\S+?)\.?(?: |$)/.exec(error.message)?.[1];
    if (job && /Missing (key|lock)|could not renew lock/i.test(error.message)) {
      // Redis lost the job (a restart without persistence), or its lock lapsed and BullMQ gave it to another worker.
      logger.warn(`job ${job} is no longer this worker's (${error.message.trim()}): Redis lost it or gave it to another worker; its result is not handed in, and its coordinator has it computed again`);
    } else logger.warn(`queue: ${error.message}`);
  });


  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopAll.signal.aborted) {
      const again = `${signal === 'SIGINT' ? 'press Ctrl-C again' : 'send it again'} to stop at once`;
      host.stderr.write(
        active === 0
          ? `\n${signal} received: stopping (no job in progress).\n`
          : `\n${signal} received: the jobs in progress stop at their next safe point and hand in their finished cells (the rest goes back to the queue); ${again}.\n`,
      );
      stopAll.abort(signal);
      void worker.close();
      return;
    }
    killAll.abort(signal);
    host.stderr.write(`${signal} again: stopping at once; the jobs in progress go to other workers once their locks expire.\n`);
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  logger.info(
    `worker ${HOST} (pid ${process.pid}) waiting for jobs on ${options.queue.shown}, ${options.concurrency} at a time; a job whose worker dies goes to another after ${options.stallSeconds}–${2 * options.stallSeconds} s`,
  );
  try {
    await worker.run();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await worker.close().catch(() => {});
    redis.disconnect();
  }
  if (refusal !== undefined) {
    host.stderr.write(`error: ${refusal}\nThe job went back to the queue for other workers; this worker stopped.\n`);
    return 2;
  }
  const signal = String(stopAll.signal.reason);
  return signal === 'SIGTERM' ? 143 : 130;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Puts the reference models a job brings into the scratch store, so the compute process loads
 * them instead of training; returns their checksums by role. One that is gone from Redis or does
 * not match its checksum is left out (and trained again) with a warning.
 */
async function receiveModels(redis: Redis, payload: GroupJob, group: GroupPlan, scratch: string, warn: (message: string) => void): Promise<Map<string, string>> {
  const given = new Map<string, string>();
  mkdirSync(join(scratch, 'models'), { recursive: true });
  const store = new ResultsStore(scratch);
  try {
    for (const model of payload.models) {
      const bytes = await redis.getBuffer(model.key);
      if (!bytes || sha256(bytes) !== model.record.sha256) {
        warn(`the ${model.role} model the coordinator sent is ${bytes ? 'damaged (its sha256 differs)' : 'no longer in Redis'}; training it again`);
        continue;
      }
      const path = modelFile(group.key, model.role);
      writeFileAtomic(join(scratch, path), bytes);
      store.putModel(group.key, model.role, { path, ...model.record }, group.versions);
      given.set(model.role, model.record.sha256);
    }
  } finally {
    store.close();
  }
  return given;
}

/** Puts the reference models trained for job `jobId` (not those it was given) into Redis for the coordinator. */
async function sendModels(redis: Redis, jobId: string, group: GroupPlan, store: ResultsStore, given: ReadonlyMap<string, string>): Promise<ModelTransfer[]> {
  const sent: ModelTransfer[] = [];
  for (const role of ['poisoned', 'retrained'] as const) {
    const model = store.getModel(group.key, role, group.versions);
    if (!model || given.get(role) === model.sha256) continue;
    const key = modelKey(jobId, 'out', role);
    await redis.set(key, readFileSync(model.path), 'EX', KEY_TTL_SECONDS);
    const { examples, seconds, sha256: checksum, shapes, finalLoss } = model;
    sent.push({ role, key, record: { examples, seconds, sha256: checksum, shapes, finalLoss } });
  }
  return sent;
}

/** Removes the scratch folders (`<pid>-…`) of worker processes of this machine that are gone. */
function removeDeadScratch(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}
