import { mkdtempSync, rmSync } from 'node:fs';
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
