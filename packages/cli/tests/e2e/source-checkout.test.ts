/**
 * The two ways the `unlearn-bench` bin runs: from a source checkout (TypeScript through tsx, our
 * packages through their `@unlearn-bench/source` condition), and compiled (dist/, as installed from
 * npm), which the other end-to-end tests use (vitest.config.ts). Both give the same rows, parent and
 * worker processes alike; the compiled CLI still loads a plugin written in TypeScript, registering
 * tsx only when it meets one.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'source-checkout',
  plugins: [resolve(import.meta.dirname, 'fixtures/plugins/typed.ts')],
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [6, 6, 1], trainSize: 200, testSize: 60 } },
  model: { use: 'core/mlp', options: { hidden: [16] } },
  training: { epochs: 3, batchSize: 20, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 1 } }],
  unlearners: [{ use: 'core/gd' }, { use: 'typed/scaled-gd', options: { scale: 3 } }],
  budgets: [0.2],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
});

const rows = (dir: string) =>
  readFileSync(join(dir, 'results.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .map(({ cell, metric, value, details }) => ({ cell, metric, value, details }))
    .sort((a, b) => `${String(a.cell)}${String(a.metric)}`.localeCompare(`${String(b.cell)}${String(b.metric)}`));

describe('the bin from source and compiled', () => {
  it('gives the same rows from the source checkout and from dist/, with two worker processes and a TypeScript plugin', async () => {
    const [source, compiled] = [tempDir(), tempDir()];
    const [fromSource, fromDist] = await Promise.all([
      runBin(['run', manifest, '--out', source, '--workers', '2', '--backend', 'wasm', '--no-report'], { env: { UNLEARN_BENCH_USE_DIST: '0' } }).done,
      runBin(['run', manifest, '--out', compiled, '--workers', '2', '--backend', 'wasm', '--no-report'], { env: { UNLEARN_BENCH_USE_DIST: '1' } }).done,
    ]);
    expect(fromSource.code, fromSource.stderr).toBe(0);
    expect(fromDist.code, fromDist.stderr).toBe(0);
    for (const run of [fromSource, fromDist]) expect(run.stdout).toContain('8 cell(s) computed, 0 skipped (finished earlier), 0 failed');
    const computed = rows(source);
    expect(computed.filter((r) => String(r.cell).includes('unlearner=typed/scaled-gd'))).toHaveLength(2 * 4);
    expect(rows(compiled)).toEqual(computed);
  });
});
