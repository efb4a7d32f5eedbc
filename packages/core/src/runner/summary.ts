/** The end-of-run table: per attack, one row per model (unlearner × budget), mean ± std over seeds. */
import type { ResultRecord } from './store.ts';
import { formatBudget } from './plan.ts';

/** Aggregate of one metric of one model over seeds. */
export interface Aggregate {
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  readonly metric: string;
  readonly mean: number;
  readonly std: number;
  readonly n: number;
  readonly seeds: readonly number[];
}

/** Mean, sample std and count of every (attack, unlearner, budget, metric) over seeds. */
export function aggregate(records: readonly ResultRecord[]): Aggregate[] {
  const groups = new Map<string, { record: ResultRecord; values: number[]; seeds: number[] }>();
  for (const record of records) {
    const key = JSON.stringify([record.attack, record.unlearner, record.budget, record.metric]);
    const group = groups.get(key) ?? { record, values: [], seeds: [] };
    if (record.value !== null) group.values.push(record.value);
    group.seeds.push(record.seed);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ record, values, seeds }) => {
    const n = values.length;
    const mean = n > 0 ? values.reduce((a, b) => a + b, 0) / n : Number.NaN;
    const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : Number.NaN;
    return { attack: record.attack, unlearner: record.unlearner, budget: record.budget, metric: record.metric, mean, std, n, seeds };
  });
}

function decimalsFor(value: number): number {
  const magnitude = Math.abs(value);
  return magnitude >= 100 ? 1 : magnitude >= 10 ? 2 : magnitude >= 1 ? 3 : 4;
}

function formatNumber(value: number, decimals = decimalsFor(value)): string {
  if (!Number.isFinite(value)) return 'n/a';
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-4)) return value.toExponential(2);
  return value.toFixed(decimals);
}

/** Renders the aggregates as plain-text tables, one per attack. */
export function formatSummary(records: readonly ResultRecord[]): string {
  const aggregates = aggregate(records);
  const attacks = [...new Set(aggregates.map((a) => a.attack))];
  const blocks: string[] = [];
  for (const attack of attacks) {
    const rows = aggregates.filter((a) => a.attack === attack);
    const metrics = [...new Set(rows.map((r) => r.metric))];
    const models = [...new Map(rows.map((r) => [`${r.unlearner}|${r.budget}`, { unlearner: r.unlearner, budget: r.budget }])).values()];
    const order = (m: { unlearner: string }) => (m.unlearner === 'none' ? 0 : m.unlearner === 'retrain' ? 1 : 2);
    models.sort((a, b) => order(a) - order(b) || 0);
    const seedsCount = Math.max(...rows.map((r) => r.n));
    const header = ['model', 'budget', ...metrics];
    const body = models.map((m) => [
      m.unlearner === 'none' ? 'none (poisoned)' : m.unlearner === 'retrain' ? 'retrain (reference)' : m.unlearner,
      formatBudget(m.budget),
      ...metrics.map((metric) => {
        const a = rows.find((r) => r.unlearner === m.unlearner && r.budget === m.budget && r.metric === metric);
        if (!a) return '';
        return a.n > 1 ? `${formatNumber(a.mean)} ± ${formatNumber(a.std, decimalsFor(a.mean))}` : formatNumber(a.mean);
      }),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
    blocks.push(
      [`attack: ${attack}   (mean ± std over ${seedsCount} seed${seedsCount === 1 ? '' : 's'})`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n'),
    );
  }
  return blocks.join('\n\n');
}
