import { describe, expect, it } from 'vitest';
import type { SelectionRule } from '../manifest/manifest.ts';
import { aggregate, formatSummary, variantValues } from './summary.ts';
import { modelKey, selectVariants, variantOf } from './selection.ts';
import type { ResultRecord } from './store.ts';

function record(seed: number, unlearner: string, metric: string, value: number, budget: number | null = unlearner === 'none' || unlearner === 'retrain' ? null : 0.1): ResultRecord {
  const role = unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned';
  return {
    experiment: 'x', cell: `${seed}/${unlearner}/${budget}`, seed, attack: 'gaussian', unlearner, budget, role, metric, value, details: null,
    examples: 0, seconds: 0, budgetExamples: null, backend: 'cpu', manifestHash: 'h', attackExamples: 0, attackSeconds: 0, setup: 's', diverged: null,
  } as ResultRecord;
}

/** Per model: [validation accuracy, poison metric] on both seeds. */
function records(models: Record<string, [number, number]>): ResultRecord[] {
  return Object.entries(models).flatMap(([unlearner, [validation, poison]]) =>
    [1, 2].flatMap((seed) => [record(seed, unlearner, 'accuracy:validation', validation), record(seed, unlearner, 'gus', poison + seed * 0.01)]),
  );
}

const oracle: SelectionRule = { rule: 'oracle', metric: 'gus', maxAccuracyDrop: 0.01, validationMetric: 'accuracy:validation' };
const utility: SelectionRule = { rule: 'utility', maxAccuracyDrop: 0.01, validationMetric: 'accuracy:validation' };
const picked = (rs: ResultRecord[], rule: SelectionRule) =>
  [...selectVariants(aggregate(rs), rule).picks.entries()].filter(([, p]) => p.selected).map(([key]) => (JSON.parse(key) as unknown[])[1]);

describe('variant selection', () => {
  const grid = {
    none: [0.95, -12] as [number, number],
    retrain: [0.95, 0] as [number, number],
    'gd[learningRate=0.001]': [0.95, -11.9] as [number, number],
    'gd[learningRate=0.01]': [0.945, -9] as [number, number],
    // Closest to retraining on GUS, but 5 points of validation accuracy lost: not eligible.
    'gd[learningRate=0.1]': [0.9, -1] as [number, number],
  };

  it('tells variant labels from plain ones', () => {
    expect(variantOf('gd[learningRate=0.1]')).toBe('gd');
    expect(variantOf('gd')).toBeUndefined();
  });

  it('oracle: the variant closest to retraining on the poison metric among those that keep validation accuracy', () => {
    expect(picked(records(grid), oracle)).toEqual(['gd[learningRate=0.01]']);
    const picks = selectVariants(aggregate(records(grid)), oracle).picks;
    expect(picks.get(modelKey({ attack: 'gaussian', unlearner: 'gd[learningRate=0.1]', budget: 0.1 }))).toEqual({ of: 'gd', selected: false, among: 3 });
    // With a looser accuracy constraint the aggressive variant becomes eligible and wins.
    expect(picked(records(grid), { ...oracle, maxAccuracyDrop: 0.1 })).toEqual(['gd[learningRate=0.1]']);
  });

  it('utility: the best validation accuracy, ties to the first in grid order, the poison metric unseen', () => {
    expect(picked(records(grid), utility)).toEqual(['gd[learningRate=0.001]']);
  });

  it('falls back to the best validation accuracy when no variant keeps accuracy, and says so', () => {
    const bad = { ...grid, 'gd[learningRate=0.001]': [0.5, -11.9] as [number, number], 'gd[learningRate=0.01]': [0.6, -9] as [number, number] };
    const result = selectVariants(aggregate(records(bad)), oracle);
    expect([...result.picks.entries()].filter(([, p]) => p.selected).map(([k]) => JSON.parse(k)[1])).toEqual(['gd[learningRate=0.1]']);
    expect(result.notes.join('\n')).toContain('no variant of gd at 10% (gaussian) keeps validation accuracy within 0.01');
  });

  it('an attack without the poison metric (a control) is chosen by validation accuracy, and the note says why', () => {
    const control = records(grid).filter((r) => r.metric !== 'gus').map((r) => ({ ...r, attack: 'clean-subset' }));
    const result = selectVariants(aggregate([...records(grid), ...control]), oracle);
    const chosen = [...result.picks.entries()].filter(([, p]) => p.selected).map(([k]) => JSON.parse(k) as unknown[]);
    expect(chosen.map(([attack, unlearner]) => [attack, unlearner])).toEqual([
      ['gaussian', 'gd[learningRate=0.01]'],
      ['clean-subset', 'gd[learningRate=0.001]'],
    ]);
    expect(result.notes.join('\n')).toContain('gus has no retrained value for clean-subset (not measured for this attack), so its variants are chosen by the best accuracy:validation');
  });

  it('says what it needs when the results have no validation metric, and then selects nothing', () => {
    const result = selectVariants(aggregate(records(grid).filter((r) => r.metric !== 'accuracy:validation')), oracle);
    expect(result.picks.size).toBe(0);
    expect(result.notes[0]).toContain("needs 'accuracy:validation' in the results");
  });

  it('marks the chosen variant in the tables and states the rule', () => {
    const text = formatSummary(records(grid), { summaries: [] });
    expect(text).not.toContain(' *');
    const { selectionNote } = { selectionNote: selectVariants(aggregate(records(grid)), oracle).notes[0] };
    expect(selectionNote).toContain('It saw the poison metric: the strongest case for each method');
  });

  it('value tables show the chosen variant only (all with allVariants), and a selection table gives each grid and choice', () => {
    const summaries = [{ use: 'core/verdict', label: 'verdict', definition: { summarize: () => ({ title: 't', rule: 'r', cells: [] }) }, options: {}, specs: new Map(), selection: oracle }] as never;
    const text = formatSummary(records(grid), { summaries });
    expect(text).toMatch(/\ngd\[learningRate=0\.01\] \* +10%/);
    expect(text).not.toMatch(/\ngd\[learningRate=0\.1\] /);
    expect(text).toContain('`report --all-variants` prints them all');
    expect(text).toMatch(/selection, gaussian: per swept method, its grid/);
    expect(text).toMatch(/\ngd +learningRate ∈ \{0\.001, 0\.01, 0\.1\} \(3\) +learningRate=0\.01\n/);
    expect(text).toContain('‡ a value at the end of its range');
    const all = formatSummary(records(grid), { summaries, allVariants: true });
    expect(all).toMatch(/\ngd\[learningRate=0\.1\] +10%/);
    expect(all).not.toContain('report --all-variants');
    // The constraint-less fallback is marked.
    const bad = { ...grid, 'gd[learningRate=0.001]': [0.5, -11.9] as [number, number], 'gd[learningRate=0.01]': [0.6, -9] as [number, number] };
    // The constraint-less fallback is marked, and so is a choice at the end of the grid.
    expect(formatSummary(records(bad), { summaries })).toMatch(/\(3\) +learningRate=0\.1 † ‡\n/);
  });

  it('reads variant values at top-level commas', () => {
    expect(variantValues('gd[learningRate=0.1,betas=[0.9,0.99],name=a]')).toEqual([['learningRate', '0.1'], ['betas', '[0.9,0.99]'], ['name', 'a']]);
    expect(variantValues('gd')).toEqual([]);
  });

  it('says so when every variant diverged, and the selection table shows none chosen', () => {
    const rs = records(grid).map((r) => (variantOf(r.unlearner) ? { ...r, diverged: 'loss is NaN', value: Number.NaN } : r));
    const result = selectVariants(aggregate(rs), oracle);
    expect([...result.picks.values()].some((p) => p.selected)).toBe(false);
    expect(result.notes.join('\n')).toContain('every variant of gd at 10% (gaussian) diverged or has no accuracy:validation; none is in the verdict tables');
    const summaries = [{ use: 'core/verdict', label: 'verdict', definition: { summarize: () => ({ title: 't', rule: 'r', cells: [] }) }, options: {}, specs: new Map(), selection: oracle }] as never;
    expect(formatSummary(rs, { summaries })).toMatch(/\(3\) +none \(every variant diverged\)\n/);
  });
});
