/** Helpers for end-to-end tests: run the CLI in-process or as the real bin. */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll } from 'vitest';

/** The repository root. */
export const repoRoot = resolve(import.meta.dirname, '../../../..');
/** The `unlearn-bench` bin. */
export const binPath = resolve(import.meta.dirname, '../../bin/unlearn-bench.js');

const created: string[] = [];
// Every folder a test file made is removed after its tests (pass or fail), so runs leave nothing
// behind in the system's temporary folder. Registered at import, so it hooks each file's root suite.
afterAll(() => {
  for (const dir of created.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {
      // A process a test killed may still be writing there; leaving the folder is harmless.
    }
  }
});

/** A new temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'ub-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** The lines of a JSON Lines file (results.jsonl, summary.jsonl), parsed. */
export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as T);
}

/** Writes `content` (a string, or an object as JSON) to a new temp file and returns its path. */
export function writeManifest(content: string | object, name = 'manifest.json'): string {
  const path = join(tempDir(), name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in this process, capturing output. */
export async function runInProcess(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const { runCli } = await import('@unlearn-bench/core');
  const { builtinPlugins } = await import('../../src/builtins.ts');
  const { createEngine } = await import('@unlearn-bench/models');
  const code = await runCli(argv, {
    plugins: builtinPlugins,
    createEngine: (backend) => createEngine({ backend }),
    stdout: stdout as unknown as NodeJS.WritableStream,
    stderr: stderr as unknown as NodeJS.WritableStream,
    version: 'test',
    binPath,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Runs the real bin as a child process. */
export function runBin(
  argv: readonly string[],
  options: { cwd?: string; onStderr?: (text: string) => void; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): { done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>; kill: (signal: NodeJS.Signals) => void; pid: number } {
  const child = spawn(process.execPath, [binPath, ...argv], { cwd: options.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env }, uid: options.uid, gid: options.gid });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    options.onStderr?.(stderr);
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolveDone) =>
    child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
  return { done, kill: (signal) => child.kill(signal), pid: child.pid! };
}

/**
 * `stored(out)` for polling a run in progress: zero while the store does not exist yet or is being
 * created (the file appears before its tables, so a poll at that moment must not fail the test).
 */
export function storedSoFar(out: string): { cells: number; failures: number } {
  if (!existsSync(join(out, 'results.db'))) return { cells: 0, failures: 0 };
  try {
    return stored(out);
  } catch (error) {
    if (/no such table|database is locked|SQLITE_BUSY|file is not a database/i.test(String(error))) return { cells: 0, failures: 0 };
    throw error;
  }
}

/** How many cells and failure records the store in `out` holds (read-only). */
export function stored(out: string): { cells: number; failures: number } {
  const db = new Database(join(out, 'results.db'), { readonly: true, fileMustExist: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { cells: count('cells'), failures: count('failures') };
  } finally {
    db.close();
  }
}
