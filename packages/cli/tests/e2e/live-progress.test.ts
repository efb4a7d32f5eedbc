/**
 * Live progress on a terminal (issue 17): run under a pseudo-terminal (util-linux `script`), the
 * parent draws a bar per worker and one for the whole run, updated in place from its workers' IPC
 * messages, with every other line printed above them; piped, the same run prints plain lines.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binPath, repoRoot, runBin, tempDir, writeManifest } from './helpers.ts';

const haveScript = spawnSync('script', ['--version']).status === 0;

const manifest = writeManifest({
  name: 'live-progress',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 300, testSize: 100 } },
  model: { use: 'core/mlp', options: { hidden: [16] } },
  training: { epochs: 3, batchSize: 50, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 30, sigma: 0.5 } }],
  unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }],
  budgets: [0.1],
  metrics: [{ use: 'core/accuracy' }],
});

/** The terminal's text with colour/cursor escapes removed. */
const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

describe('live progress', () => {
  it.skipIf(!haveScript)('on a terminal: a bar per worker and for the run, updated in place, with the other lines above them', () => {
    const out = join(tempDir(), 'run');
    const log = join(tempDir(), 'tty.log');
    const command = `"${process.execPath}" "${binPath}" run "${manifest}" --out "${out}" --backend cpu --workers 2 --no-report`;
    execFileSync('script', ['-qfec', command, log], { cwd: repoRoot, stdio: 'ignore', env: { ...process.env, TERM: 'xterm' } });
    const raw = readFileSync(log, 'utf8');
    expect(raw).toMatch(/\x1b\[\d*A/); // the cursor moves up: bars are redrawn in place
    const text = plain(raw);
    expect(text).toMatch(/all {6}\S+ 6\/6 cells · ETA/);
    expect(text).toMatch(/worker 1 \S+ 3\/3 cells · done/);
    expect(text).toMatch(/worker 2 \S+ 3\/3 cells · done/);
    expect(text).toMatch(/worker [12] \S+ [0-2]\/3 cells · seed [12] · gaussian · (poisoned|retrained|gd @ 10%)/); // a step, shown on the bar
    expect(text).toContain('[worker 1] dataset core/synthetic-images: 300 train / 100 test examples'); // other lines stay
    expect(text).toContain('6 cell(s) computed, 0 skipped (finished earlier), 0 failed');
    expect(text).not.toContain('[cell 1/3'); // cell lines became bar updates
  });

  it('piped: one plain line per event, no escape codes', async () => {
    const result = await runBin(['run', manifest, '--out', join(tempDir(), 'run'), '--backend', 'cpu', '--workers', '2', '--no-report']).done;
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/\x1b\[/);
    expect(result.stderr).toContain('[worker 1] [cell 1/3');
    expect(result.stderr).toMatch(/\[worker 2\]   seed 2 · gaussian · poisoned · epoch 1\/3 · loss/);
  });
});
