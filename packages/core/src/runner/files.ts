/**
 * Files of the output folder: crash-safe writes (a temporary file named after its writer, fsync,
 * rename), cleanup of temporaries whose writer is gone, the folder lock of a run, and the cached
 * model weights with their checksum.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, fsyncSync, linkSync, openSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FolderLockedError, StoreError } from '../errors.ts';

/** This machine's name as used in temporary-file names and locks (only `[A-Za-z0-9.-]`). */
const HOST = hostname().replace(/[^A-Za-z0-9.-]+/g, '_') || 'localhost';

/** `.tmp-<host>-<pid>` (this version) or `.tmp-<pid>` (earlier versions, always this machine's). */
const TEMPORARY = /\.tmp-(?:(.*)-)?(\d+)$/;

/** Writes `data` to `path` atomically: readers see the old file or the complete new one. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  // The writer's host and PID in the name: another process can tell whether the writer is alive.
  const temporary = `${path}.tmp-${HOST}-${process.pid}`;
  try {
    writeComplete(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw diskFull(path, error);
  }
}

/** Appends `data` to `path` in one write (a whole cell's lines of results.jsonl); a full disk as for writeFileAtomic. */
export function appendFileChecked(path: string, data: string): void {
  try {
    appendFileSync(path, data);
  } catch (error) {
    throw diskFull(path, error);
  }
}

/** ENOSPC while writing `path` as the StoreError users see; any other error as it is. */
function diskFull(path: string, error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') return error;
  return new StoreError(`disk full (ENOSPC) while writing '${path}'; the results stored before are kept. Free some space and rerun to continue.`, { cause: error });
}

function writeComplete(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether process `pid` exists on this machine (`kill(pid, 0)`: EPERM means it exists). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the half-written temporaries (`*.tmp-<host>-<pid>`) in `dirs` whose writer is gone: a
 * process of this machine that no longer exists. Temporaries of live processes (worker processes
 * sharing the folder) and of other machines are left alone. Returns the names removed.
 */
export function removeStaleTemporaries(dirs: readonly string[]): string[] {
  const removed: string[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const match = TEMPORARY.exec(name);
      if (!match) continue;
      const host = match[1] ?? HOST;
      const pid = Number(match[2]);
      if (host !== HOST || pid === process.pid || processAlive(pid)) continue;
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Who holds a folder's lock (the content of `run.lock`). */
interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** A held folder lock; `release` removes it (only if it is still ours). */
export interface FolderLock {
  readonly path: string;
  release(): void;
}

/** The lock file of an output folder. */
const LOCK_FILE = 'run.lock';

function readHolder(path: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    return Number.isInteger(holder.pid) && typeof holder.host === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of output folder `dir` for this process, so that two runs never write one folder
 * at once. The lock file appears complete or not at all (written aside, then hard-linked into
 * place, which fails if it exists). A lock left by a dead process of this machine is taken over;
 * one held by a live process, or by another machine, throws FolderLockedError naming the holder.
 */
export function lockFolder(dir: string): FolderLock {
  const path = join(dir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, host: HOST, since: new Date().toISOString() };
  const aside = `${path}.tmp-${HOST}-${process.pid}`;
  writeComplete(aside, `${JSON.stringify(mine)}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(aside, path);
        return {
          path,
          release() {
            if (readHolder(path)?.pid === process.pid && readHolder(path)?.host === HOST) rmSync(path, { force: true });
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder && (holder.host !== HOST || processAlive(holder.pid))) throw new FolderLockedError(dir, holder);
      // Stale (its process is gone) or unreadable: move it aside under our name, so that of two
      // runs taking over at once only one succeeds; the other sees the winner's lock next time.
      const stale = `${path}.stale-${HOST}-${process.pid}`;
      try {
        renameSync(path, stale);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      const moved = readHolder(stale);
      if (moved && holder && moved.pid !== holder.pid) {
        // Between our read and our rename another run took the lock over: give it back.
        try {
          linkSync(stale, path);
        } catch {
          // it has a new holder again; ours to retry
        }
      }
      rmSync(stale, { force: true });
    }
    throw new FolderLockedError(dir, readHolder(path));
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // already gone
    }
  }
}

/** A cached model's integrity record: sha256 of the file and every parameter's shape. */
export interface WeightsRecord {
  readonly sha256: string;
  readonly shapes: readonly (readonly number[])[];
}

/**
 * Saves model weights (one Float32Array per parameter) as: uint32 header length, JSON header
 * `{ "lengths": [...], "shapes": [...] }`, then the float32 values (little-endian). Returns the
 * file's sha256, to be stored with it.
 */
export function saveWeights(path: string, weights: readonly Float32Array[], shapes: readonly (readonly number[])[] = weights.map((w) => [w.length])): string {
  const header = Buffer.from(JSON.stringify({ lengths: weights.map((w) => w.length), shapes }), 'utf8');
  const total = weights.reduce((n, w) => n + w.length, 0);
  const out = Buffer.alloc(4 + header.length + total * 4);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let offset = 4 + header.length;
  for (const w of weights) {
    Buffer.from(w.buffer, w.byteOffset, w.byteLength).copy(out, offset);
    offset += w.byteLength;
  }
  writeFileAtomic(path, out);
  return createHash('sha256').update(out).digest('hex');
}

/**
 * Reads weights written by `saveWeights`. Given `expected`, refuses a file whose sha256 or
 * parameter shapes differ from it (truncated, overwritten, or saved for another architecture) with
 * `mismatch`'s error.
 */
export function loadWeights(path: string, expected?: WeightsRecord, mismatch: (what: string) => Error = (what) => new Error(`${path}: ${what}`)): Float32Array[] {
  const bytes = readFileSync(path);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expected && sha256 !== expected.sha256) throw mismatch(`its sha256 is ${sha256.slice(0, 12)}…, but ${expected.sha256.slice(0, 12)}… was stored with it (${bytes.length} bytes: truncated or overwritten?)`);
  const headerLength = bytes.readUInt32LE(0);
  const { lengths, shapes } = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { lengths: number[]; shapes?: number[][] };
  const stated = JSON.stringify(expected?.shapes);
  if (expected && JSON.stringify(shapes) !== stated) throw mismatch(`its parameter shapes ${JSON.stringify(shapes)} differ from the model's ${stated}`);
  let offset = 4 + headerLength;
  return lengths.map((length) => {
    const copy = new Float32Array(length);
    Buffer.from(copy.buffer).set(bytes.subarray(offset, offset + length * 4));
    offset += length * 4;
    return copy;
  });
}
