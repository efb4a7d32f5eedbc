import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ResultsStore, type CellIdentity } from './store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function store(): ResultsStore {
  const dir = mkdtempSync(join(tmpdir(), 'ub-store-'));
  dirs.push(dir);
  return new ResultsStore(dir);
}

const identity = (key: string): CellIdentity => ({ key, groupKey: 'g', seed: 1, attack: 'gaussian', unlearner: 'gd', budget: 0.1, role: 'unlearned', setup: 's', versions: '{"p":"1"}' });
const meta = { experiment: 'e', backend: 'wasm', manifestHash: 'h', attackExamples: 5, attackSeconds: 0.5 };

describe('moving a cell between stores (a queue worker to its coordinator)', () => {
  it('keeps every value, detail, divergence and warning, and null for a non-finite value', () => {
    const worker = store();
    const coordinator = store();
    const run = worker.startRun('e', 'h', {});
    worker.writeCell(run, identity('a'), meta, { examples: 10, seconds: 1.5, budgetExamples: 12 }, [
      { metric: 'accuracy', value: 0.93 },
      { metric: 'gus', value: -2.5, details: { pValue: 0.012, note: 'x', ok: true, none: null } },
      { metric: 'loss', value: Number.NaN },
    ], null, 'returned a model identical to the poisoned one');
    worker.writeCell(run, identity('b'), meta, { examples: 0, seconds: 0, budgetExamples: null }, [{ metric: 'accuracy', value: Number.NaN }], 'non-finite weights after unlearning');
    worker.writeCell(run, identity('c'), meta, { examples: 0, seconds: 0, budgetExamples: null }, []); // a cell with no per-model metric
    const sent = JSON.parse(JSON.stringify(['a', 'b', 'c'].map((key) => worker.storedCell(key)))) as NonNullable<ReturnType<ResultsStore['storedCell']>>[];
    expect(worker.storedCell('missing')).toBeUndefined();
    const into = coordinator.startRun('e', 'h', {});
    for (const cell of sent) coordinator.writeStoredCell(into, identity(cell.key), cell);
    expect(coordinator.records()).toEqual(worker.records());
    for (const key of ['a', 'b', 'c']) expect(coordinator.storedCell(key)).toEqual(worker.storedCell(key));
    expect(coordinator.hasCell(identity('c'))).toBe(true);
    worker.close();
    coordinator.close();
  });
});

describe('results.jsonl: appended cell by cell, rewritten whole, rebuilt from', () => {
  const cost = { examples: 10, seconds: 1, budgetExamples: 12 };
  const linesOf = (s: ResultsStore) => readFileSync(join(s.dir, 'results.jsonl'), 'utf8').split('\n').filter((line) => line !== '');
  const cellsOf = (s: ResultsStore) => linesOf(s).map((line) => (JSON.parse(line) as { cell: string }).cell);

  it("keeps each cell's rows together even when every sort field but the key ties", () => {
    const s = store();
    const run = s.startRun('e', 'h', {});
    // The three cells share attack, seed, role, unlearner and budget (as sweep variants could).
    for (const key of ['b', 'a', 'c']) s.writeCell(run, identity(key), meta, cost, [{ metric: 'm2', value: 2 }, { metric: 'm1', value: 1 }, { metric: 'm3', value: 3 }]);
    expect(s.records().map((r) => `${r.cell}:${r.metric}`)).toEqual(['a:m1', 'a:m2', 'a:m3', 'b:m1', 'b:m2', 'b:m3', 'c:m1', 'c:m2', 'c:m3']);
    expect(s.records('b').map((r) => r.metric)).toEqual(['m1', 'm2', 'm3']);
    s.close();
  });

  it('appends exactly the rows of the cell just written, and the whole rewrite gives the same rows', () => {
    const s = store();
    s.exportJsonl();
    expect(linesOf(s)).toEqual([]); // an empty store exports an empty file
    const run = s.startRun('e', 'h', {});
    for (const key of ['b', 'a', 'c']) {
      s.writeCell(run, identity(key), meta, cost, [{ metric: 'accuracy', value: key.charCodeAt(0) / 1000 }, { metric: 'gus', value: -1, details: { k: 3 } }]);
      s.appendJsonl(key);
    }
    s.appendJsonl('not-stored'); // nothing to append
    expect(cellsOf(s)).toEqual(['b', 'b', 'a', 'a', 'c', 'c']); // completion order
    const appended = linesOf(s).map((line) => JSON.parse(line) as unknown);
    s.exportJsonl();
    expect(cellsOf(s)).toEqual(['a', 'a', 'b', 'b', 'c', 'c']); // records() order
    expect(new Set(linesOf(s))).toEqual(new Set(appended.map((r) => JSON.stringify(r))));
    expect(linesOf(s).map((line) => JSON.parse(line) as unknown)).toEqual(JSON.parse(JSON.stringify(s.records())));
    s.close();
  });

  it('rebuild keeps the last block of a cell stored again, and leaves out a cut last line with the cell before it', () => {
    const s = store();
    const dir = s.dir;
    const run = s.startRun('e', 'h', {});
    s.writeCell(run, identity('a'), meta, cost, [{ metric: 'accuracy', value: 0.5 }, { metric: 'gus', value: -3 }]);
    s.appendJsonl('a');
    s.writeCell(run, identity('b'), meta, cost, [{ metric: 'accuracy', value: 0.7 }]);
    s.appendJsonl('b');
    // 'a' stored again (as by other plugin versions): new values and one metric fewer.
    s.writeCell(run, { ...identity('a'), versions: '{"p":"2"}' }, meta, cost, [{ metric: 'accuracy', value: 0.9 }]);
    s.appendJsonl('a');
    s.close();
    const rebuilt = ResultsStore.rebuild(dir);
    expect(rebuilt).toMatchObject({ cells: 2, tornLastLine: false });
    const again = new ResultsStore(dir);
    expect(again.records().map((r) => [r.cell, r.metric, r.value, r.versions])).toEqual([
      ['a', 'accuracy', 0.9, '{"p":"2"}'],
      ['b', 'accuracy', 0.7, '{"p":"1"}'],
    ]);
    // A crash in the middle of appending cell 'c': its first line whole, its second cut short.
    again.writeCell(again.startRun('e', 'h', {}), identity('c'), meta, cost, [{ metric: 'accuracy', value: 0.1 }, { metric: 'gus', value: 2 }]);
    const [first, second] = again.records('c').map((r) => JSON.stringify(r));
    again.close();
    appendFileSync(join(dir, 'results.jsonl'), `${first}\n${second.slice(0, 40)}`);
    const cut = ResultsStore.rebuild(dir);
    expect(cut).toMatchObject({ cells: 2, tornLastLine: true });
    const after = new ResultsStore(dir);
    expect([...new Set(after.records().map((r) => r.cell))]).toEqual(['a', 'b']); // 'c' is recomputed, not kept with one row
    after.close();
    // A line that is not JSON anywhere else is still refused.
    writeFileSync(join(dir, 'results.jsonl'), `{"cell":\n${first}\n`);
    expect(() => ResultsStore.rebuild(dir)).toThrow(/line 1 is not JSON/);
  });
});
