/**
 * Aggregation over seeds and the end-of-run tables: per attack, one row per model (unlearner ×
 * budget) with mean ± std over seeds, then each method's gap to the retrained model.
 */
import { join } from 'node:path';
import { writeFileAtomic } from './files.ts';
import { formatBudget } from './plan.ts';
import type { ResultRecord } from './store.ts';

/** t_{0.975, df} for df = 1..30 (two-sided 95%); larger df use 1.96. */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093,
  2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The gap rule: a method is indistinguishable from retraining on a metric if |gap| ≤ this. */
export const GAP_THRESHOLD = 2;

/** Aggregate of one metric of one model over seeds. */
export interface Aggregate {
  readonly attack: string;
  readonly unlearner: string;
  readonly budget: number | null;
  readonly metric: string;
  readonly mean: number;
  /** Sample standard deviation over seeds (n − 1); NaN for one seed. */
  readonly std: number;
  /** 95% confidence interval of the mean (Student t); NaN bounds for one seed. */
  readonly ci95: readonly [number, number];
  readonly n: number;
  readonly seeds: readonly number[];
  /**
   * (mean − retrained mean) / retrained std over seeds: how far this model's metric is from
   * exact unlearning, in units of retraining's own seed-to-seed spread. NaN without ≥ 2 seeds.
   */
  readonly gapToRetrain: number;
  /** `indistinguishable` if |gapToRetrain| ≤ GAP_THRESHOLD, `different` otherwise, `n/a` if undefined. */
  readonly verdict: 'indistinguishable' | 'different' | 'n/a';
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
  const stats = [...groups.values()].map(({ record, values, seeds }) => {
    const n = values.length;
    const mean = n > 0 ? values.reduce((a, b) => a + b, 0) / n : Number.NaN;
    const std = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : Number.NaN;
    const half = n > 1 ? (T_975[n - 2] ?? 1.96) * (std / Math.sqrt(n)) : Number.NaN;
    return { attack: record.attack, unlearner: record.unlearner, budget: record.budget, metric: record.metric, mean, std, ci95: [mean - half, mean + half] as const, n, seeds };
  });
  return stats.map((a) => {
    const reference = stats.find((r) => r.attack === a.attack && r.unlearner === 'retrain' && r.metric === a.metric);
    const gap = reference && reference.std > 0 ? (a.mean - reference.mean) / reference.std : Number.NaN;
    const verdict = Number.isFinite(gap) ? (Math.abs(gap) <= GAP_THRESHOLD ? 'indistinguishable' : 'different') : 'n/a';
    return { ...a, gapToRetrain: gap, verdict };
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

/** How to render the summary. */
export interface SummaryFormat {
  /** Only these metrics, in this order (default: all, in the order they appear). */
  readonly metrics?: readonly string[];
  /** Markdown tables instead of aligned text. */
  readonly markdown?: boolean;
}

/** Renders the aggregates as tables: per attack, values (mean ± std) then the gap to retrain. */
export function formatSummary(records: readonly ResultRecord[], format: SummaryFormat = {}): string {
  const aggregates = aggregate(records);
  const attacks = [...new Set(aggregates.map((a) => a.attack))];
  const blocks: string[] = [];
  for (const attack of attacks) {
    const rows = aggregates.filter((a) => a.attack === attack);
    const present = [...new Set(rows.map((r) => r.metric))];
    const metrics = format.metrics ? format.metrics.filter((m) => present.includes(m)) : present;
    const models = [...new Map(rows.map((r) => [`${r.unlearner}|${r.budget}`, { unlearner: r.unlearner, budget: r.budget }])).values()];
    const order = (m: { unlearner: string }) => (m.unlearner === 'none' ? 0 : m.unlearner === 'retrain' ? 1 : 2);
    models.sort((a, b) => order(a) - order(b));
    const seedsCount = Math.max(...rows.map((r) => r.n));
    // Text tables print their metrics in chunks so each fits a terminal.
    const chunk = format.markdown ? Math.max(1, metrics.length) : METRICS_PER_TABLE;
    for (let start = 0; start < metrics.length; start += chunk) {
      const shown = metrics.slice(start, start + chunk);
      const label = (m: { unlearner: string }) => (m.unlearner === 'none' ? 'none (poisoned)' : m.unlearner === 'retrain' ? 'retrain (reference)' : m.unlearner);
      const find = (m: { unlearner: string; budget: number | null }, metric: string) => rows.find((r) => r.unlearner === m.unlearner && r.budget === m.budget && r.metric === metric);
      const values = models.map((m) => [
        label(m),
        formatBudget(m.budget),
        ...shown.map((metric) => {
          const a = find(m, metric);
          if (!a) return '';
          return a.n > 1 ? `${formatNumber(a.mean)} ± ${formatNumber(a.std, decimalsFor(a.mean))}` : formatNumber(a.mean);
        }),
      ]);
      blocks.push(table(`attack: ${attack}   (mean ± std over ${seedsCount} seed${seedsCount === 1 ? '' : 's'})`, ['model', 'budget', ...shown], values, format.markdown));
      if (seedsCount < 2) continue;
      const gaps = models
        .filter((m) => m.unlearner !== 'retrain')
        .map((m) => [
          label(m),
          formatBudget(m.budget),
          ...shown.map((metric) => {
            const a = find(m, metric);
            if (!a || a.verdict === 'n/a') return 'n/a';
            return `${a.verdict === 'indistinguishable' ? '≈' : '≠'} ${(Math.abs(a.gapToRetrain) < 0.05 ? 0 : a.gapToRetrain).toFixed(1)}`;
          }),
        ]);
      const title = `gap to retrain, ${attack}: (mean − retrain mean) / retrain std over seeds; ≈ if |gap| ≤ ${GAP_THRESHOLD} (indistinguishable from retraining), ≠ otherwise`;
      blocks.push(table(title, ['model', 'budget', ...shown], gaps, format.markdown));
    }
  }
  return blocks.join('\n\n');
}

/** Metric columns per text table. */
const METRICS_PER_TABLE = 5;

function table(title: string, header: readonly string[], body: readonly string[][], markdown = false): string {
  if (markdown) {
    const row = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [`**${title}**`, '', row(header), `|${header.map(() => '---').join('|')}|`, ...body.map(row)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Writes `summary.jsonl` (one line per attack × model × metric aggregate) atomically into `dir`. */
export function writeSummaryJsonl(dir: string, records: readonly ResultRecord[]): string {
  const path = join(dir, 'summary.jsonl');
  const lines = aggregate(records).map((a) =>
    JSON.stringify({ ...a, ci95: a.ci95.map((v) => (Number.isFinite(v) ? v : null)), std: Number.isFinite(a.std) ? a.std : null, gapToRetrain: Number.isFinite(a.gapToRetrain) ? a.gapToRetrain : null }),
  );
  writeFileAtomic(path, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return path;
}
