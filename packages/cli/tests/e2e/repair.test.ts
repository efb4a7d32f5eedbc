/**
 * A damaged `results.db` (issue 20): the error names it and offers `unlearn-bench repair <DIR>`,
 * which rebuilds the store from `results.jsonl` (keeping the damaged file aside). The rebuilt store
 * reports the same tables, and a rerun skips every finished cell.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

const manifest = writeManifest({
  name: 'repair',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
  model: { use: 'core/mlp', options: { hidden: [8] } },
  training: { epochs: 1, batchSize: 50, learningRate: 0.01 },
  attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
  unlearners: [{ use: 'core/gd' }, { use: 'core/ga' }],
  budgets: [0.5],
  metrics: [{ use: 'core/accuracy' }],
});

/** Overwrites the start of `path` with garbage, as a bad disk or a stray write would. */
function damage(path: string): void {
  const bytes = readFileSync(path);
  bytes.fill(0x41, 0, 4096);
  writeFileSync(path, bytes);
}

describe('repair', () => {
  it('rebuilds a damaged results.db from results.jsonl: the same report, and a rerun skips every cell', async () => {
    const out = tempDir();
    expect((await runInProcess(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet'])).code).toBe(0);
    const before = await runInProcess(['report', out]);
    expect(before.code).toBe(0);
    damage(join(out, 'results.db'));

    const broken = await runInProcess(['report', out]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`error: '${join(out, 'results.db')}' is damaged (file is not a database). The finished cells are also in '${join(out, 'results.jsonl')}' (one line per cell × metric): 'unlearn-bench repair ${out}' rebuilds the store from it (the damaged file is kept aside), or use another --out folder.`);

    const repaired = await runInProcess(['repair', out]);
    expect(repaired.code).toBe(0);
    const aside = readdirSync(out).find((f) => f.startsWith('results.db.damaged-'))!;
    expect(repaired.stdout).toBe(
      `Rebuilt '${join(out, 'results.db')}' from results.jsonl: 8 finished cell(s). The old database is kept as '${join(out, aside)}'. Cached models are not in results.jsonl: the next run retrains those its unfinished cells need.\n`,
    );
    const after = await runInProcess(['report', out]);
    expect(after.code).toBe(0);
    expect(after.stdout).toBe(before.stdout);

    const rerun = await runInProcess(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet']);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('0 cell(s) computed, 8 skipped (finished earlier), 0 failed');
  });

  it('keeps cells exported without plugin versions for report, and says the next run recomputes them', async () => {
    const out = tempDir();
    expect((await runInProcess(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet'])).code).toBe(0);
    const before = await runInProcess(['report', out]);
    // results.jsonl as an earlier version wrote it: no group key and no plugin versions.
    const path = join(out, 'results.jsonl');
    const lines = readFileSync(path, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    writeFileSync(path, `${lines.map(({ group: _group, versions: _versions, ...rest }) => JSON.stringify(rest)).join('\n')}\n`);
    damage(join(out, 'results.db'));
    const repaired = await runInProcess(['repair', out]);
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toContain(' 8 cell(s) were exported without their plugin versions (by an earlier version): report shows them, the next run recomputes them.');
    expect((await runInProcess(['report', out])).stdout).toBe(before.stdout);
  });

  it('needs a folder with results.jsonl', async () => {
    const empty = tempDir();
    const result = await runInProcess(['repair', empty]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: No results.jsonl in '${empty}' to rebuild the store from. Give the --out folder of a run.\n`);
  });
});
