/**
 * Two runs into one output folder (issue 20): the second refuses at once, naming the process and
 * host that hold the folder, instead of computing everything and failing every cell on the store's
 * UNIQUE constraint. Sequential and `--workers` runs both hold the lock; run twice at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { longRunningManifest, startBin, waitFor } from './concurrency.ts';
import { tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest(longRunningManifest('lock'));

async function round(workers: string): Promise<void> {
  const out = tempDir();
  const first = startBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', workers, '--quiet']);
  try {
    expect(await waitFor(() => existsSync(join(out, 'run.lock')), 60)).toBe(true);
    const holder = JSON.parse(readFileSync(join(out, 'run.lock'), 'utf8')) as { pid: number; host: string };
    expect(holder).toMatchObject({ pid: first.pid, host: hostname().replace(/[^A-Za-z0-9.-]+/g, '_') });
    const second = await startBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', workers, '--quiet']).done;
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`error: The output folder '${out}' is in use by process ${first.pid} on host ${holder.host} (since `);
    expect(second.stderr).toContain('Wait for that run to finish, or give this one another --out folder.');
    expect(second.stderr).not.toContain('UNIQUE constraint');
  } finally {
    first.kill('SIGKILL');
  }
}

describe('two runs into one folder', () => {
  it('the second refuses with the holder PID and host (a sequential and a --workers run, at once)', async () => {
    await Promise.all([round('1'), round('2')]);
  });
});
