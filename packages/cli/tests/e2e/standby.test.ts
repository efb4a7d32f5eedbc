/**
 * The bin starts a run's first worker process ahead of need (bin/standby.js): the run uses it, a
 * run that needs no worker ends it, and commands that start no workers start none.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { running, waitFor } from './concurrency.ts';
import { runBin, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'ahead',
  seeds: [1],
  dataset: { use: 'core/synthetic-images', options: { shape: [8, 8, 1], trainSize: 200, testSize: 100 } },
  model: { use: 'core/mlp', options: { hidden: [16] } },
  training: { epochs: 2, batchSize: 32, learningRate: 0.02 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.2],
  metrics: [{ use: 'core/accuracy' }],
});

const standbyPid = (stderr: string): number => Number(/started a standby worker process \(pid (\d+)\)/.exec(stderr)?.[1]);

describe('standby worker', () => {
  it('is the first worker of a run, and is ended when a run needs none', async () => {
    const out = tempDir();
    const first = await runBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--debug']).done;
    expect(first.code, first.stderr).toBe(0);
    const pid = standbyPid(first.stderr);
    expect(pid).toBeGreaterThan(0);
    expect(first.stderr).toContain(`worker 1 is the standby process (pid ${pid})`);
    expect(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThan(0);

    // Everything is finished: no worker runs, and the standby does not outlive the command.
    const again = await runBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--debug']).done;
    expect(again.code, again.stderr).toBe(0);
    const unused = standbyPid(again.stderr);
    expect(unused).toBeGreaterThan(0);
    expect(again.stderr).not.toContain('is the standby process');
    expect(await waitFor(() => !running(unused), 10)).toBe(true);

    // An invalid manifest: the command fails and the standby goes with it.
    const bad = writeManifest({ name: 'bad' }, 'bad.json');
    const failed = await runBin(['run', bad, '--out', tempDir(), '--debug']).done;
    expect(failed.code).toBe(2);
    const gone = standbyPid(failed.stderr);
    expect(await waitFor(() => !running(gone), 10)).toBe(true);
  });

  it('is not started where no worker process will run', async () => {
    const validate = await runBin(['validate', manifest, '--debug']).done;
    expect(validate.code, validate.stderr).toBe(0);
    const inProcess = await runBin(['run', manifest, '--out', tempDir(), '--backend', 'cpu', '--in-process', '--debug']).done;
    expect(inProcess.code, inProcess.stderr).toBe(0);
    for (const result of [validate, inProcess]) expect(result.stderr).not.toMatch(/standby worker process|is the standby process/);
  });
});
