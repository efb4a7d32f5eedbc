/**
 * `report` on a read-only output folder (issue 20): it opens the store read-only and writes
 * nothing, so a folder on a read-only mount, or one without write permission, reports as usual.
 * As root (where file modes do not stop writes) the report runs as user `nobody` (uid 65534), for
 * whom the folder is read-only for real.
 */
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, runInProcess, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'report-readonly',
  seeds: [1],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
  model: { use: 'core/mlp', options: { hidden: [8] } },
  training: { epochs: 1, batchSize: 50, learningRate: 0.01 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.5],
  metrics: [{ use: 'core/accuracy' }],
});

/** Every file under `dir` with its size and modification time. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const stat = statSync(join(dir, name));
      return `${name} ${stat.size} ${stat.mtimeMs}`;
    });
}

/** Sets the mode of `dir` and everything in it: folders `folderMode`, files `fileMode`. */
function chmodTree(dir: string, folderMode: number, fileMode: number): void {
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    chmodSync(path, statSync(path).isDirectory() ? folderMode : fileMode);
  }
  chmodSync(dir, folderMode);
}

describe('report on a read-only folder', () => {
  it('prints the same tables as on the writable folder and writes nothing there', async () => {
    const out = join(tempDir(), 'run');
    const run = await runInProcess(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet']);
    expect(run.code).toBe(0);
    const expected = await runBin(['report', out]).done;
    expect(expected.code).toBe(0);
    expect(expected.stdout).toContain('gd ');
    // The run closed its store: no -wal/-shm files, which a read-only open would need to create.
    expect(readdirSync(out).filter((f) => f.includes('results.db-'))).toEqual([]);

    const root = process.getuid?.() === 0;
    chmodSync(dirname(out), 0o755); // let `nobody` into the temporary folder
    chmodTree(out, 0o555, 0o444);
    const before = snapshot(out);
    try {
      const result = await runBin(['report', out], root ? { uid: 65534, gid: 65534 } : {}).done;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(expected.stdout);
      expect(snapshot(out)).toEqual(before);
    } finally {
      chmodTree(out, 0o755, 0o644);
    }
  });
});
