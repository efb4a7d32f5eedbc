/**
 * Aggregation over seeds and the end-of-run tables: per attack, one row per model (unlearner ×
 * budget) with mean ± std and the 95% t-interval over seeds, then one table per summary metric
 * (by default `core/gap-to-retrain`, each method's gap to the retrained model, and `core/null-test`,
 * GUS combined over seeds).
 */
import { join } from 'node:path';
import { InvalidManifestError, PluginFailedError, type ManifestIssue } from '../errors.ts';
import { formatAjvErrors, getOrCreateValidator } from '../plugin/ajv.ts';
import type { Registry } from '../plugin/registry.ts';
import { isSummaryMetric, type SeedAggregate, type SummaryMetricDefinition, type SummaryResult } from '../plugin/types.ts';
import { writeFileAtomic } from './files.ts';
import { formatBudget } from './plan.ts';
import type { ResultRecord } from './store.ts';

/** t_{0.975, df} for df = 1..30 (two-sided 95%); larger df use 1.96. */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093,
  2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Aggregate of one metric of one model over seeds (one line of `summary.jsonl`, before summary fields). */
export type Aggregate = SeedAggregate;

/** Mean, sample std, 95% t-interval and count of every (attack, unlearner, budget, metric) over seeds. */
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
    const half = n > 1 ? (T_975[n - 2] ?? 1.96) * (std / Math.sqrt(n)) : Number.NaN;
    const { attack, unlearner, budget, role, metric } = record;
    return { attack, unlearner, budget, role, metric, mean, std, ci95: [mean - half, mean + half] as const, n, seeds };
  });
}

/**
 * Summary metrics applied even when a manifest does not list them (with their default options), so
 * every run and every `report` of an older run folder shows the gap to retraining and, for GUS, the
 * null test over seeds. Listing one in
 * the manifest sets its options and label instead. Skipped when no such plugin is registered.
 */
export const DEFAULT_SUMMARY_METRICS: readonly string[] = ['core/gap-to-retrain', 'core/null-test'];

/** A summary metric chosen for a run, with its options validated and defaulted. */
export interface SummarySelection {
  readonly use: string;
  readonly label: string;
  readonly definition: SummaryMetricDefinition;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A manifest `metrics` entry (as written, or resolved). */
export interface MetricRefLike {
  readonly use: string;
  readonly label?: string;
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * The summary metrics of a manifest's `metrics` list (entries that are per-model metrics or not
 * registered are skipped), then every registered `DEFAULT_SUMMARY_METRICS` entry the list does not
 * name. Options are validated against the metric's schema and defaulted; `source` names the
 * manifest in errors.
 */
export function selectSummaryMetrics(refs: readonly MetricRefLike[], registry: Registry, source = 'manifest'): SummarySelection[] {
  const selections: SummarySelection[] = [];
  const issues: ManifestIssue[] = [];
  const add = (ref: MetricRefLike, path: string) => {
    if (!registry.has('metric', ref.use)) return;
    const definition = registry.get('metric', ref.use).definition;
    if (!isSummaryMetric(definition)) return;
    const options = structuredClone({ ...(ref.options ?? {}) }) as Record<string, unknown>;
    const validate = getOrCreateValidator(definition.optionsSchema);
    if (!validate(options)) {
      issues.push(...formatAjvErrors(validate.errors ?? [], options, `${path}.options`));
      return;
    }
    const label = ref.label ?? (ref.use.startsWith('core/') ? ref.use.slice('core/'.length) : ref.use);
    selections.push({ use: ref.use, label, definition, options });
  };
  refs.forEach((ref, i) => add(ref, `metrics[${i}]`));
  for (const use of DEFAULT_SUMMARY_METRICS) if (!refs.some((ref) => ref.use === use)) add({ use }, `(default ${use})`);
  if (issues.length > 0) throw new InvalidManifestError(source, issues);
  return selections;
}

/** A summary metric's result. */
export interface SummaryOutput {
  readonly selection: SummarySelection;
  readonly result: SummaryResult;
}

/** Runs every selected summary metric on the aggregates of `records`. */
export function runSummaryMetrics(records: readonly ResultRecord[], summaries: readonly SummarySelection[]): SummaryOutput[] {
  const aggregates = aggregate(records);
  return summaries.map((selection) => {
    try {
      return { selection, result: selection.definition.summarize({ aggregates }, selection.options) };
    } catch (error) {
      if (error instanceof PluginFailedError) throw error;
      throw new PluginFailedError(selection.use, 'summarize', error);
    }
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
  /**
   * Summary metrics to add tables for (see `selectSummaryMetrics`); none by default. With `metrics`,
   * they see only those metrics' aggregates.
   */
  readonly summaries?: readonly SummarySelection[];
}

/** `mean ± std [low, high]` (the 95% t-interval), or the mean alone for one seed. */
function formatAggregate(a: Aggregate): string {
  if (a.n < 2) return formatNumber(a.mean);
  const decimals = decimalsFor(a.mean);
  return `${formatNumber(a.mean)} ± ${formatNumber(a.std, decimals)} [${formatNumber(a.ci95[0], decimals)}, ${formatNumber(a.ci95[1], decimals)}]`;
}

type ModelKey = { readonly unlearner: string; readonly budget: number | null };
const sameModel = (a: ModelKey, b: ModelKey) => a.unlearner === b.unlearner && a.budget === b.budget;

/**
 * Renders the aggregates as tables: per attack, values (mean ± std [95% interval]) then one table
 * per summary metric, each titled with the rule that reads it.
 */
export function formatSummary(records: readonly ResultRecord[], format: SummaryFormat = {}): string {
  const aggregates = aggregate(records);
  // Summary metrics see the metrics shown, so a verdict over "every metric" reads off the tables.
  const outputs = runSummaryMetrics(format.metrics ? records.filter((r) => format.metrics!.includes(r.metric)) : records, format.summaries ?? []);
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
    const label = (m: { unlearner: string }) => (m.unlearner === 'none' ? 'none (poisoned)' : m.unlearner === 'retrain' ? 'retrain (reference)' : m.unlearner);
    const find = (m: ModelKey, metric: string) => rows.find((r) => sameModel(r, m) && r.metric === metric);
    // Text tables print their metrics in chunks so each fits a terminal.
    const chunk = format.markdown ? Math.max(1, metrics.length) : METRICS_PER_TABLE;
    for (let start = 0; start < metrics.length; start += chunk) {
      const shown = metrics.slice(start, start + chunk);
      const last = start + chunk >= metrics.length;
      const values = models.map((m) => [
        label(m),
        formatBudget(m.budget),
        ...shown.map((metric) => {
          const a = find(m, metric);
          if (!a) return '';
          return a.n > 0 && a.n < seedsCount ? `${formatAggregate(a)} (n=${a.n})` : formatAggregate(a);
        }),
      ]);
      const stats = seedsCount > 1 ? 'mean ± std [95% t-interval of the mean]' : 'mean ± std';
      blocks.push(table(`attack: ${attack}   (${stats} over ${seedsCount} seed${seedsCount === 1 ? '' : 's'})`, ['model', 'budget', ...shown], values, format.markdown));
      for (const { result } of outputs) {
        // Only printed cells count: a metric column or model row without one is left out.
        const cells = result.cells.filter((c) => c.attack === attack && c.text !== undefined && shown.includes(c.metric));
        const columns = shown.filter((metric) => cells.some((c) => c.metric === metric));
        const extra = last ? (result.rows ?? []).filter((r) => r.attack === attack && r.text !== undefined) : [];
        const header = ['model', 'budget', ...columns, ...(extra.length > 0 ? [result.rowHeader ?? 'verdict'] : [])];
        const body = models
          .filter((m) => cells.some((c) => sameModel(c, m)) || extra.some((r) => sameModel(r, m)))
          .map((m) => [
            label(m),
            formatBudget(m.budget),
            ...columns.map((metric) => cells.find((c) => sameModel(c, m) && c.metric === metric)?.text ?? ''),
            ...(extra.length > 0 ? [extra.find((r) => sameModel(r, m))?.text ?? ''] : []),
          ]);
        if (body.length > 0) blocks.push(table(`${result.title}, ${attack}: ${result.rule}`, header, body, format.markdown));
      }
    }
  }
  const notes = outputs.flatMap(({ selection, result }) => (result.notes ?? []).map((note) => `note (${selection.label}): ${note}`));
  if (notes.length > 0) blocks.push(notes.join('\n'));
  return blocks.join('\n\n');
}

/** Metric columns per text table. */
const METRICS_PER_TABLE = 3;

function table(title: string, header: readonly string[], body: readonly string[][], markdown = false): string {
  if (markdown) {
    const row = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [`**${title}**`, '', row(header), `|${header.map(() => '---').join('|')}|`, ...body.map(row)].join('\n');
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const finite = (v: number) => (Number.isFinite(v) ? v : null);

/**
 * Writes `summary.jsonl` atomically into `dir`: one line per attack × model × metric aggregate
 * (mean, std, ci95, n, seeds; null where undefined), plus the fields each summary metric adds to it
 * (e.g. `gapToRetrain`, `verdict`, `methodVerdict`). A field name already on the line is written
 * as `<summary label>.<field>`.
 */
export function writeSummaryJsonl(dir: string, records: readonly ResultRecord[], summaries: readonly SummarySelection[] = []): string {
  const path = join(dir, 'summary.jsonl');
  const outputs = runSummaryMetrics(records, summaries);
  const lines = aggregate(records).map((a) => {
    const line: Record<string, unknown> = { ...a, std: finite(a.std), mean: finite(a.mean), ci95: a.ci95.map(finite) };
    for (const { selection, result } of outputs) {
      const fields = [
        ...result.cells.filter((c) => c.attack === a.attack && sameModel(c, a) && c.metric === a.metric).map((c) => c.fields ?? {}),
        ...(result.rows ?? []).filter((r) => r.attack === a.attack && sameModel(r, a)).map((r) => r.fields ?? {}),
      ];
      const added: Record<string, unknown> = {};
      for (const [name, value] of fields.flatMap((f) => Object.entries(f))) {
        const v = typeof value === 'number' ? finite(value) : value;
        added[name in line ? `${selection.label}.${name}` : name] = v;
      }
      Object.assign(line, added);
    }
    return JSON.stringify(line);
  });
  writeFileAtomic(path, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return path;
}
