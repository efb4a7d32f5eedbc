/**
 * A private Redis for the queue tests: Debian's `redis-server` on a free loopback port, with its
 * files in a temporary folder and no persistence unless asked, stopped after the test file. A
 * test never touches a Redis it did not start, and test files never share one. Without
 * redis-server the queue tests are skipped, unless UNLEARN_BENCH_REQUIRE_REDIS=1 (CI, which
 * installs it) makes them fail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll } from 'vitest';
import { tempDir } from './helpers.ts';

/** The redis-server binary (UNLEARN_BENCH_REDIS_SERVER, else Debian's). */
export const redisServerPath = process.env.UNLEARN_BENCH_REDIS_SERVER ?? '/usr/bin/redis-server';
/** Whether the queue tests can run here. */
export const haveRedis = existsSync(redisServerPath);
if (!haveRedis && process.env.UNLEARN_BENCH_REQUIRE_REDIS === '1') {
  throw new Error(`UNLEARN_BENCH_REQUIRE_REDIS=1 but there is no redis-server at ${redisServerPath} (apt-get install redis-server, or set UNLEARN_BENCH_REDIS_SERVER).`);
}
if (!haveRedis) console.warn(`skipping the queue tests: no redis-server at ${redisServerPath} (apt-get install redis-server, or set UNLEARN_BENCH_REDIS_SERVER)`);

/** A redis-server this test file started. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder (after kill). */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
afterAll(async () => {
  await Promise.all([...running].map((child) => stop(child)));
});

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** A port that was free a moment ago (the server retries with another if it is taken meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts redis-server on `port`; resolves once it accepts connections, rejects with its output if it exits first. */
function launch(port: number, dir: string, persistence: boolean): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', persistence ? 'yes' : 'no', '--daemonize', 'no'];
  if (persistence) args.push('--appendfsync', 'always');
  const child = spawn(redisServerPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code, signal) => reject(new Error(`redis-server on port ${port} exited (${signal ?? code}) before it was ready:\n${output}`)));
  });
}

/**
 * Starts a redis-server for this test file on a free loopback port, in a new temporary folder.
 * `persistence`: an append-only file synced at every write (to test a restart that keeps the data).
 */
export async function startRedis(options: { persistence?: boolean } = {}): Promise<TestRedis> {
  const dir = tempDir('ub-redis-');
  const persistence = options.persistence === true;
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, persistence);
    } catch (error) {
      if (attempt >= 4 || !/Address already in use/.test(String(error))) throw error;
    }
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      if (child) await stop(child);
    },
    restart: async () => {
      if (child) await stop(child);
      child = await launch(port, dir, persistence);
    },
  };
}
