/**
 * Sweeps over a BullMQ queue (issue 16): a coordinator (`run --queue`) and worker processes
 * (`worker --queue`) on a private redis-server give exactly the rows of a local `--workers 1` run,
 * also when a worker is SIGKILLed mid-group (BullMQ's stalled-job detection hands its job to
 * another), when the coordinator is SIGKILLed and started again, and when Redis restarts empty
 * mid-run. Workers refuse jobs they would compute differently; Redis down at start is exit 2.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { childrenOf, running, waitFor } from './concurrency.ts';
import { runBin, runInProcess, tempDir, writeManifest } from './helpers.ts';
import { freePort, haveRedis, startRedis, type TestRedis } from './redis.ts';

const gate = resolve(import.meta.dirname, 'fixtures/plugins/gate.mjs');
const manifest = writeManifest({
  name: 'queue',
  plugins: [gate],
  seeds: [1, 2],
  dataset: { use: 'core/mnist', options: { trainSize: 200, testSize: 100 } },
  model: { use: 'core/mlp', options: { hidden: [16] } },
  training: { epochs: 3, batchSize: 32, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 20, sigma: 1 } }],
  // gate/wait holds a worker whose UB_FIXTURE_GATE file is missing at a known cell (the 5th of 6).
  unlearners: [{ use: 'core/gd' }, { use: 'gate/wait' }],
  budgets: [0.2, 0.5],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
});
const CELLS = 12;

/**
 * The scenarios run two at a time, each on its own redis-server: their processes mostly wait (for
 * a process to start, a claim to lapse, a poll), so two lanes finish much sooner than one on the
 * 2-core CI machine, where vitest runs one test file at a time.
 */
const lane = (() => {
  let free = 2;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (free === 0) await new Promise<void>((resolveTurn) => waiting.push(resolveTurn));
    else free -= 1;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free += 1;
    }
  };
})();
/** A scenario's time limit, including its wait for a lane. */
const LONG = 400_000;

type Row = Record<string, unknown>;
const rowsOf = (dir: string): Row[] => readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Row);
/** What must be identical between runs (not the timings). */
const comparable = (rows: Row[]) =>
  rows.map(({ cell, metric, value, details, examples, diverged }) => ({ cell, metric, value, details, examples, diverged })).sort((a, b) => `${String(a.cell)}${String(a.metric)}`.localeCompare(`${String(b.cell)}${String(b.metric)}`));

/** Every cell once in the store, no failure, and no job of the run left in Redis. */
function expectComplete(out: string, reference: Row[]): void {
  const rows = rowsOf(out);
  expect(comparable(rows)).toEqual(comparable(reference));
  const keys = rows.map((r) => `${String(r.cell)}|${String(r.metric)}`);
  expect(new Set(keys).size).toBe(keys.length);
  const db = new Database(join(out, 'results.db'), { readonly: true });
  try {
    expect((db.prepare('SELECT COUNT(*) AS n FROM cells').get() as { n: number }).n).toBe(CELLS);
    expect(db.prepare('SELECT cell_key, message FROM failures').all()).toEqual([]);
    expect((db.prepare('SELECT COUNT(*) AS n FROM models').get() as { n: number }).n).toBe(4); // the reference models came back
  } finally {
    db.close();
  }
}

/**
 * A `worker` process; `gate`: a file whose absence holds it at the 5th cell of its first group.
 * Its claim on a job lasts `stall` seconds without renewal (default 10: a worker the loaded test
 * machine starves of CPU for a while keeps its job; the SIGKILL test uses 2 s, so the dead
 * worker's job moves within seconds).
 */
function startWorker(url: string, options: { gate?: string; stall?: number } = {}) {
  let text = '';
  // TMPDIR: its scratch folders (a killed worker leaves one) go into a folder the test removes.
  const env = { TMPDIR: tempDir(), ...(options.gate ? { UB_FIXTURE_GATE: options.gate } : {}) };
  const proc = runBin(['worker', '--queue', url, '--stall-seconds', String(options.stall ?? 10)], { env, onStderr: (t) => (text = t) });
  return { ...proc, output: () => text };
}

/** A coordinator process for `out`. */
function startCoordinator(url: string, out: string, path = manifest, cwd?: string) {
  let text = '';
  const proc = runBin(['run', path, '--out', out, '--queue', url, '--backend', 'wasm', '--no-report'], { cwd, onStderr: (t) => (text = t) });
  return { ...proc, output: () => text };
}

describe.skipIf(!haveRedis)('a run on a queue', () => {
  let reference: Row[];
  beforeAll(async () => {
    // In this process (no worker process to start): the same engine and numbers as the workers'.
    const out = tempDir();
    const local = await runInProcess(['run', manifest, '--out', out, '--backend', 'wasm', '--workers', '1', '--no-report']);
    expect(local.code, local.stderr).toBe(0);
    reference = rowsOf(out);
    expect(reference).toHaveLength(CELLS * 4); // accuracy, accuracy:drop, gus, gus:fresh-noise
  });

  it.concurrent('gives exactly the rows of --workers 1 with a coordinator and two workers', () => lane(async () => {
    const redis = await startRedis();
    const out = tempDir();
    const workers = [startWorker(redis.url), startWorker(redis.url)];
    try {
      const coordinator = await startCoordinator(redis.url, out).done;
      expect(coordinator.code, coordinator.stderr).toBe(0);
      expect(coordinator.stdout).toContain('12 cell(s) computed, 0 skipped (finished earlier), 0 failed');
      expect(coordinator.stderr).toMatch(/queue: 2 seed × attack group\(s\), 12 cell\(s\); coordinating on redis:\/\/127\.0\.0\.1:\d+ \(run [0-9a-f]{16}\)/);
      expect(coordinator.stderr).toMatch(/groups: 2 of 2 done, 0 running, 0 waiting · cells 12\/12/);
      expectComplete(out, reference);
    } finally {
      for (const worker of workers) worker.kill('SIGTERM');
    }
    for (const worker of workers) {
      const { code, stderr } = await worker.done;
      expect(code, stderr).toBe(143); // stopped by SIGTERM, idle
    }
  }), LONG);

  it.concurrent('completes with identical rows when a worker is SIGKILLed mid-group: BullMQ gives its job to another', () => lane(async () => {
    const redis = await startRedis();
    const out = tempDir();
    const held = startWorker(redis.url, { gate: join(tempDir(), 'never-opened'), stall: 2 });
    const coordinator = startCoordinator(redis.url, out);
    let other: ReturnType<typeof startWorker> | undefined;
    try {
      // Held at the 5th of its group's 6 cells: 4 are finished in its scratch folder, none stored yet.
      expect(await waitFor(() => held.output().includes('[cell 5/6]'), 90), held.output()).toBe(true);
      const compute = childrenOf(held.pid, '--groups');
      expect(compute).toHaveLength(1);
      held.kill('SIGKILL');
      expect((await held.done).signal).toBe('SIGKILL');
      expect(await waitFor(() => !compute.some(running), 15)).toBe(true); // its compute process went with it
      other = startWorker(redis.url, { stall: 2 });
      const result = await coordinator.done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/warning: the worker computing seed \d · gaussian \(\S+:\d+\) stopped renewing its claim \(killed, or cut off from Redis\); the job is back on the queue for another worker/);
      expect(result.stdout).toContain('12 cell(s) computed, 0 skipped (finished earlier), 0 failed');
      expectComplete(out, reference);
    } finally {
      held.kill('SIGKILL');
      coordinator.kill('SIGKILL');
      other?.kill('SIGTERM');
    }
    expect((await other!.done).code).toBe(143);
  }), LONG);

  it.concurrent('completes with identical rows when the coordinator is SIGKILLed and started again', () => lane(async () => {
    const redis = await startRedis();
    const out = tempDir();
    const gateFile = join(tempDir(), 'gate');
    const worker = startWorker(redis.url, { gate: gateFile });
    const first = startCoordinator(redis.url, out);
    try {
      expect(await waitFor(() => worker.output().includes('[cell 5/6]'), 90), worker.output()).toBe(true);
      first.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      // The worker finishes its group while no coordinator runs: the result waits in Redis.
      writeFileSync(gateFile, '');
      expect(await waitFor(() => /job \S+: 6 cell\(s\) finished, 0 failed/.test(worker.output()), 90), worker.output()).toBe(true);
      const second = await startCoordinator(redis.url, out).done;
      expect(second.code, second.stderr).toBe(0);
      // Both jobs are taken over: stored if they finished meanwhile, else followed.
      expect(second.stderr).toMatch(/found 2 job\(s\) of this run on the queue: \d finished meanwhile \(stored\), \d still waiting or running \(followed\)/);
      expect(second.stdout).toContain('12 cell(s) computed, 0 skipped (finished earlier), 0 failed');
      expectComplete(out, reference);
      expect(existsSync(join(out, 'run.lock'))).toBe(false); // the dead coordinator's lock was taken over, then released
    } finally {
      first.kill('SIGKILL');
      worker.kill('SIGTERM');
    }
    expect((await worker.done).code).toBe(143);
  }), LONG);

  it.concurrent('completes with identical rows when Redis restarts empty mid-run: the lost jobs are queued again', () => lane(async () => {
    const redis = await startRedis();
    const out = tempDir();
    const gateFile = join(tempDir(), 'gate');
    const worker = startWorker(redis.url, { gate: gateFile });
    const coordinator = startCoordinator(redis.url, out);
    try {
      expect(await waitFor(() => worker.output().includes('[cell 5/6]'), 90), worker.output()).toBe(true);
      await redis.restart(); // SIGKILL, then a new server on the same port: no persistence, so every job is gone
      writeFileSync(gateFile, '');
      const result = await coordinator.done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/warning: lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+\/? \(.*\); waiting for it to come back/);
      expect(result.stderr).toContain('is gone from Redis (restarted without persistence, or removed by hand); queuing it again');
      expectComplete(out, reference);
    } finally {
      coordinator.kill('SIGKILL');
      worker.kill('SIGTERM');
    }
    expect((await worker.done).code).toBe(143);
  }), LONG);

  it.concurrent('keeps the finished cells when a worker or the coordinator is stopped (Ctrl-C), and the resume computes the rest from the stored models', () => lane(async () => {
    const redis = await startRedis();
    const out = tempDir();
    const gateFile = join(tempDir(), 'gate');
    const first = startWorker(redis.url, { gate: gateFile });
    const coordinator = startCoordinator(redis.url, out);
    let second: ReturnType<typeof startWorker> | undefined;
    try {
      // A worker stopped mid-group hands in its 4 finished cells; the coordinator queues the other 2.
      expect(await waitFor(() => first.output().includes('[cell 5/6]'), 90), first.output()).toBe(true);
      first.kill('SIGINT');
      const stoppedWorker = await first.done;
      expect(stoppedWorker.code).toBe(130);
      expect(stoppedWorker.stderr).toMatch(/job \S+: 4 cell\(s\) finished, 0 failed, stopped \(SIGINT\) before the other 2 in/);
      expect(await waitFor(() => coordinator.output().includes('stopped (SIGINT) before finishing seed 1 · gaussian; its other cells go back on the queue'), 30)).toBe(true);
      // The coordinator stopped while a second worker is held in the other group: the waiting job
      // (the first group's rest) is removed, the worker stops and hands in its 4 cells.
      second = startWorker(redis.url, { gate: gateFile });
      expect(await waitFor(() => second!.output().includes('[cell 5/6]'), 90), second.output()).toBe(true);
      coordinator.kill('SIGINT');
      const stopped = await coordinator.done;
      expect(stopped.code, stopped.stderr).toBe(130);
      expect(stopped.stderr).toContain('asked the workers computing 1 group(s) to stop at their next safe point; waiting for their finished cells');
      expect(stopped.stderr).toContain(`stopped (SIGINT): 8 of 12 cell(s) are finished and saved in ${join(out, 'results.db')}`);
      expect(await waitFor(() => /job \S+: 4 cell\(s\) finished, 0 failed, stopped \(SIGINT\) before the other 2/.test(second!.output()), 30)).toBe(true);
      // The resume sends each group's stored reference models with its remaining cells.
      writeFileSync(gateFile, '');
      const resumed = await startCoordinator(redis.url, out).done;
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('4 cell(s) computed, 8 skipped (finished earlier), 0 failed');
      expect(second.output()).toMatch(/seed 1 · gaussian · poisoned: loaded from \S+ \(trained earlier\)/);
      expectComplete(out, reference);
    } finally {
      first.kill('SIGKILL');
      coordinator.kill('SIGKILL');
      second?.kill('SIGTERM');
    }
    expect((await second!.done).code).toBe(143);
  }), LONG);

  it.concurrent('goes on where it was when a Redis with persistence restarts mid-run: nothing is computed twice', () => lane(async () => {
    const persistent = await startRedis({ persistence: true });
    const out = tempDir();
    const gateFile = join(tempDir(), 'gate');
    // The default lock (30 s) outlasts the restart, so the worker keeps its job.
    let text = '';
    const worker = runBin(['worker', '--queue', persistent.url], { env: { TMPDIR: tempDir(), UB_FIXTURE_GATE: gateFile }, onStderr: (t) => (text = t) });
    const coordinator = startCoordinator(persistent.url, out);
    try {
      expect(await waitFor(() => text.includes('[cell 5/6]'), 90), text).toBe(true);
      await persistent.restart();
      writeFileSync(gateFile, '');
      const result = await coordinator.done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/warning: lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+ \(.*\); waiting for it to come back/);
      expect(result.stderr).not.toContain('gone from Redis');
      expectComplete(out, reference);
      expect(text.match(/job \S+: 6 cell\(s\) finished, 0 failed/g)).toHaveLength(2); // each group computed once
    } finally {
      coordinator.kill('SIGKILL');
      worker.kill('SIGTERM');
    }
    expect((await worker.done).code).toBe(143);
  }), LONG);

  it('exits 2 with a message when Redis cannot be reached at start, or on a wrong command line', async () => {
    const port = await freePort(); // nothing listens there
    const down = `redis://127.0.0.1:${port}`;
    const run = await runInProcess(['run', manifest, '--out', tempDir(), '--queue', down]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `error: Cannot reach Redis at ${down}: connect ECONNREFUSED 127.0.0.1:${port}. Start redis-server there (Debian: apt-get install redis-server), or check --queue (redis://HOST:PORT, redis://:PASSWORD@HOST:PORT (or the password in UNLEARN_BENCH_REDIS_PASSWORD), rediss://… for TLS, optionally /DB at the end).\n`,
    );
    const worker = await runInProcess(['worker', '--queue', `redis://:secret@127.0.0.1:${port}`]);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain(`error: Cannot reach Redis at redis://:***@127.0.0.1:${port}: connect ECONNREFUSED`); // never the password
    const bad = await runInProcess(['worker', '--queue', 'http://127.0.0.1:6379']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("error: --queue must be a redis:// or rediss:// URL");
    expect((await runInProcess(['worker', '--queue', down, '--backend', 'cpu'])).stderr).toBe(
      "error: 'worker' takes no --backend: each job names its manifest, backend and output (the coordinator's). Options: --queue, --concurrency, --stall-seconds.\n",
    );
    expect((await runInProcess(['worker'])).stderr).toBe("error: 'worker' needs --queue redis://HOST:PORT (the Redis server the coordinator, 'unlearn-bench run <manifest> --queue …', uses).\n");
  });
});
