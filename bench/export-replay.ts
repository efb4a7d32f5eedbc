/**
 * What keeping results.jsonl current costs over a run: replays the cells of a finished run folder
 * into a new store one at a time, in the order they finished, and after each one does what the
 * runner does to the export: `append` (ResultsStore.appendJsonl, the runner's way since issue 14's
 * round 3) or `rewrite` (ResultsStore.exportJsonl, the whole file, the way before).
 *
 *   node --conditions=@unlearn-bench/source --import tsx bench/export-replay.ts runs/paper-gaussian [append] [rewrite]
 *
 * Prints one line per mode: the seconds spent on the export in all, and the final file's size.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ResultsStore, type CellIdentity } from '@unlearn-bench/core';

const [folder, ...modes] = process.argv.slice(2);
if (!folder) {
  console.error('usage: bench/export-replay.ts <run folder with results.db> [append] [rewrite]');
  process.exit(1);
}
const source = new ResultsStore(folder, { readonly: true });
const db = new Database(join(folder, 'results.db'), { readonly: true });
const cells = db
  .prepare('SELECT key, group_key AS groupKey, seed, attack, unlearner, budget, role, setup, versions FROM cells ORDER BY finished_at')
  .all() as CellIdentity[];
db.close();
for (const mode of modes.length > 0 ? modes : ['append', 'rewrite']) {
  if (mode !== 'append' && mode !== 'rewrite') throw new Error(`unknown mode '${mode}' (append or rewrite)`);
  const dir = mkdtempSync(join(tmpdir(), 'export-replay-'));
  try {
    const store = new ResultsStore(dir);
    const run = store.startRun('replay', 'replay', {});
    let exportMs = 0;
    for (const cell of cells) {
      store.writeStoredCell(run, cell, source.storedCell(cell.key)!);
      const t0 = performance.now();
      if (mode === 'append') store.appendJsonl(cell.key);
      else store.exportJsonl();
      exportMs += performance.now() - t0;
    }
    const t0 = performance.now();
    store.exportJsonl();
    const finalMs = performance.now() - t0;
    store.close();
    const mb = statSync(join(dir, 'results.jsonl')).size / 1e6;
    console.log(
      JSON.stringify({ mode, cells: cells.length, export_after_each_cell_s: Number((exportMs / 1000).toFixed(2)), final_rewrite_ms: Math.round(finalMs), file_mb: Number(mb.toFixed(1)) }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
source.close();
