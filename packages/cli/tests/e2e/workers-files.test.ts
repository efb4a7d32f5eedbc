/**
 * Worker processes sharing an output folder (issue 20): no worker deletes another's in-flight
 * temporary file (`ENOENT … rename '…/run.json.tmp-…'` was a CI failure under load), run.json is
 * written once by the parent, and summary.jsonl covers every seed. Two runs at once, to catch races.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBin } from './concurrency.ts';
import { binPath, repoRoot, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'worker-files',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
  model: { use: 'core/mlp', options: { hidden: [8] } },
  training: { epochs: 2, batchSize: 32, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
  unlearners: [{ use: 'core/gd' }],
  budgets: [0.2, 0.4],
  metrics: [{ use: 'core/accuracy' }],
});

async function round(): Promise<void> {
  const out = tempDir();
  const { code, stderr, stdout } = await startBin(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '2']).done;
  expect(stderr).not.toMatch(/ENOENT|\.tmp-/);
  expect(code, stderr).toBe(0);
  expect(stdout).toContain('8 cell(s) computed, 0 skipped (finished earlier), 0 failed');
  const info = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { manifestHash: string; experiment: string };
  expect(info).toMatchObject({ experiment: 'worker-files', manifestHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const summary = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seeds: number[] });
  expect(summary.length).toBeGreaterThan(0);
  for (const line of summary) expect(line.seeds).toEqual([1, 2]);
  const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n');
  expect(rows).toHaveLength(8 * 2); // accuracy and accuracy:drop per cell
  expect([...readdirSync(out), ...readdirSync(join(out, 'models'))].filter((f) => f.includes('.tmp-') || f === 'run.lock')).toEqual([]);
}

/** `run … | head -1`: the reader goes away before the table; no EPIPE crash, exit 0, results saved. */
async function closedPipe(): Promise<void> {
  const out = tempDir();
  const command = `"${process.execPath}" "${binPath}" run "${manifest}" --out "${out}" --backend cpu --workers 1 | head -1; exit \${PIPESTATUS[0]}`;
  const child = spawn('bash', ['-c', command], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(stderr).not.toMatch(/EPIPE|Error|at .*\(/);
  expect(stderr).toContain('[cell 8/8'); // the progress went on to the end
  expect(code).toBe(0);
  expect(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(8 * 2);
}

describe('--workers 2 into one folder', () => {
  it('finishes every cell with no lost temporary file, one run.json and a summary over all seeds (two runs at once)', async () => {
    await Promise.all([round(), round(), closedPipe()]); // closedPipe: a closed stdout (| head -1) ends a run quietly
  });
});
