/**
 * Aggregation over seeds and the end-of-run tables: per attack, one row per model (unlearner ×
 * budget) with mean ± std and the 95% t-interval over seeds, then one table per summary metric
 * (by default `core/verdict`, each model against the retrained model, and `core/null-test`,
 * GUS combined over seeds).
 */
import { join } from 'node:path';
import { InvalidManifestError, PluginFailedError, type ManifestIssue } from '../errors.ts';
import { formatAjvErrors, getOrCreateValidator } from '../plugin/ajv.ts';
import type { Registry } from '../plugin/registry.ts';
import { isSummaryMetric, type MetricDefinition, type ResultSpec, type SeedAggregate, type SummaryMetricDefinition, type SummaryResult } from '../plugin/types.ts';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { writeFileAtomic } from './files.ts';
import { formatBudget } from './plan.ts';
import type { ResultRecord } from './store.ts';
import type { SelectionRule } from '../manifest/manifest.ts';
import { modelKey, selectVariants, variantOf, type VariantSelection } from './selection.ts';

/** Aggregate of one metric of one model over seeds (one line of `summary.jsonl`, before summary fields). */
export type Aggregate = SeedAggregate;

/** How each stored metric key is read (margin, range, null), by key. */
export type ResultSpecs = ReadonlyMap<string, ResultSpec>;


/** Below this relative size a standard deviation is rounding noise (three equal values give 1.7e-17). */
const RELATIVE_STD_TOLERANCE = 1e-9;

/** Wilson score interval (95%) for `successes` of `n` independent binary outcomes. */
export function wilsonInterval(successes: number, n: number): readonly [number, number] {
  if (n <= 0) return [Number.NaN, Number.NaN];
  const z = 1.959963984540054;
  const p = successes / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z / (1 + (z * z) / n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Sample mean, standard deviation (n − 1; 0 when below rounding noise) and 95% interval of `values`. */
function summarizeValues(values: readonly number[], spec: ResultSpec): { mean: number; std: number; ci95: readonly [number, number] } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  let std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  if (std <= RELATIVE_STD_TOLERANCE * Math.max(1, Math.abs(mean))) std = 0;
  const [low, high] = spec.range ?? [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  if (low === 0 && high === 1 && values.every((v) => v === 0 || v === 1)) {
    return { mean, std, ci95: wilsonInterval(values.filter((v) => v === 1).length, n) };
  }
  const half = tQuantile(0.975, n - 1) * (std / Math.sqrt(n));
  return { mean, std, ci95: [Math.max(low, mean - half), Math.min(high, mean + half)] };
}

/**
 * Mean, sample std, 95% interval and count of every (setup, attack, unlearner, budget, metric) over
 * seeds, with the per-seed values. Records of different setups (another dataset, model, recipe,
 * backend or attack configuration) are never pooled. A model that diverged on any seed gets no
 * mean, std or interval (NaN), only the count of diverged seeds.
 */
export function aggregate(records: readonly ResultRecord[], specs: ResultSpecs = new Map()): Aggregate[] {
  const modelKey = (r: ResultRecord) => JSON.stringify([r.setup, r.attack, r.unlearner, r.budget]);
  const divergedByModel = new Map<string, Map<number, string>>();
  for (const record of records) {
    const reason = record.diverged;
    if (!reason) continue;
    const seeds = divergedByModel.get(modelKey(record)) ?? new Map<number, string>();
    if (!seeds.has(record.seed)) seeds.set(record.seed, reason);
    divergedByModel.set(modelKey(record), seeds);
  }
  const groups = new Map<string, { record: ResultRecord; bySeed: Map<number, ResultRecord>; experiments: Set<string> }>();
  for (const record of records) {
    const key = JSON.stringify([modelKey(record), record.metric]);
    const group = groups.get(key) ?? { record, bySeed: new Map(), experiments: new Set() };
    group.bySeed.set(record.seed, record);
    group.experiments.add(record.experiment);
    groups.set(key, group);
  }
  return [...groups.values()].map(({ record, bySeed, experiments }) => {
    const divergedSeeds = divergedByModel.get(modelKey(record)) ?? new Map<number, string>();
    const seeds = [...new Set([...bySeed.keys(), ...divergedSeeds.keys()])].sort((a, b) => a - b);
    const values = seeds.map((seed) => {
      const value = divergedSeeds.has(seed) ? null : (bySeed.get(seed)?.value ?? null);
      return value !== null && Number.isFinite(value) ? value : null;
    });
    const details = seeds.map((seed) => (divergedSeeds.has(seed) ? null : (bySeed.get(seed)?.details ?? null)));
    const finiteValues = values.filter((v): v is number => v !== null);
    const spec = specs.get(record.metric) ?? {};
    const diverged = [...divergedSeeds.keys()].sort((a, b) => a - b);
    const stats = diverged.length > 0 ? { mean: Number.NaN, std: Number.NaN, ci95: [Number.NaN, Number.NaN] as const } : summarizeValues(finiteValues, spec);
    const { attack, unlearner, budget, role, metric } = record;
    return {
      attack,
      unlearner,
      budget,
      role,
      metric,
      ...stats,
      n: diverged.length > 0 ? 0 : finiteValues.length,
      seeds,
      values,
      details,
      diverged,
      divergedReason: diverged.length > 0 ? divergedSeeds.get(diverged[0])! : null,
      setup: record.setup,
      experiment: [...experiments].join(', '),
      spec,
    };
  });
}

/**
 * How the per-model metrics of `refs` read each result (margin, range, null), keyed by stored
 * metric key (`label` or `label:name`), from each registered metric's `results`.
 */
export function resolveResultSpecs(refs: readonly MetricRefLike[], registry: Registry): ResultSpecs {
  const specs = new Map<string, ResultSpec>();
  for (const ref of refs) {
    if (!registry.has('metric', ref.use)) continue;
    const definition = registry.get('metric', ref.use).definition;
    if (isSummaryMetric(definition)) continue;
    const label = ref.label ?? (ref.use.startsWith('core/') ? ref.use.slice('core/'.length) : ref.use);
    for (const [name, spec] of Object.entries((definition as MetricDefinition).results ?? {})) specs.set(name === '' ? label : `${label}:${name}`, spec);
  }
  return specs;
}

/**
 * Summary metrics applied even when a manifest does not list them (with their default options), so
 * every run and every `report` of an older run folder shows the verdict against retraining and, for
 * GUS, the pooled null test. Listing one in the manifest sets its options and label instead. Skipped when no such plugin is registered.
 */
export const DEFAULT_SUMMARY_METRICS: readonly string[] = ['core/verdict', 'core/null-test'];

/** A summary metric chosen for a run, with its options validated and defaulted. */
export interface SummarySelection {
  readonly use: string;
  readonly label: string;
  readonly definition: SummaryMetricDefinition;
  readonly options: Readonly<Record<string, unknown>>;
  /** How the run's per-model metrics read their results (margins, ranges), from the same manifest. */
  readonly specs: ResultSpecs;
  /** The manifest's rule for picking one variant of each swept unlearner, if any. */
  readonly selection?: SelectionRule;
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
export function selectSummaryMetrics(refs: readonly MetricRefLike[], registry: Registry, source = 'manifest', selection?: SelectionRule): SummarySelection[] {
  const selections: SummarySelection[] = [];
  const issues: ManifestIssue[] = [];
  const specs = resolveResultSpecs(refs, registry);
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
    selections.push({ use: ref.use, label, definition, options, specs, ...(selection ? { selection } : {}) });
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

/**
 * Runs every selected summary metric on the aggregates of `records` (one setup). With a variant
 * selection (the manifest's `selection`), the variants it did not choose are left out and the
 * chosen ones carry `selectedFrom`.
 */
export function runSummaryMetrics(records: readonly ResultRecord[], summaries: readonly SummarySelection[], specs: ResultSpecs = summaries[0]?.specs ?? new Map()): SummaryOutput[] {
  const aggregates = aggregate(records, specs);
  return summarizeAggregates(aggregates, summaries, selectVariants(aggregates, summaries[0]?.selection));
}

/** `runSummaryMetrics` on aggregates already computed, with the variant selection already made. */
function summarizeAggregates(all: readonly Aggregate[], summaries: readonly SummarySelection[], chosen: VariantSelection): SummaryOutput[] {
  const aggregates = all.flatMap((a) => {
    const pick = chosen.picks.get(modelKey(a));
    if (!pick) return [a];
    return pick.selected ? [{ ...a, selectedFrom: pick.among }] : [];
  });
  return summaries.map((selection) => {
    try {
      return { selection, result: selection.definition.summarize({ aggregates }, selection.options) };
    } catch (error) {
      if (error instanceof PluginFailedError) throw error;
      throw new PluginFailedError(selection.use, 'summarize', error);
    }
  });
}

/** Per model (attack, unlearner, budget): its cells' warnings, as `<warning> on k of n seeds`. */
function modelWarnings(records: readonly ResultRecord[]): Map<string, string> {
  const seeds = new Map<string, Set<number>>();
  const warned = new Map<string, Map<string, Set<number>>>();
  for (const r of records) {
    const key = modelKey(r);
    (seeds.get(key) ?? seeds.set(key, new Set()).get(key)!).add(r.seed);
    const warning = r.warning;
    if (!warning) continue;
    const byText = warned.get(key) ?? warned.set(key, new Map()).get(key)!;
    (byText.get(warning) ?? byText.set(warning, new Set()).get(warning)!).add(r.seed);
  }
  const out = new Map<string, string>();
  for (const [key, byText] of warned) {
    const n = seeds.get(key)!.size;
    out.set(key, [...byText].map(([text, s]) => `${text} on ${s.size} of ${n} seed${n === 1 ? '' : 's'}`).join('; '));
  }
  return out;
}

/** The records of each setup, in order of appearance (one entry when the folder holds one experiment). */
function bySetup(records: readonly ResultRecord[]): ResultRecord[][] {
  const setups = new Map<string, ResultRecord[]>();
  for (const record of records) {
    const key = record.setup;
    const list = setups.get(key) ?? [];
    list.push(record);
    setups.set(key, list);
  }
  return [...setups.values()];
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
   * Summary metrics to add tables for (see `selectSummaryMetrics`); none by default. They always
   * see every metric's aggregates; `metrics` only filters what is printed.
   */
  readonly summaries?: readonly SummarySelection[];
  /** How each metric reads its results (intervals kept in range); default: the summaries' specs. */
  readonly specs?: ResultSpecs;
  /**
   * Under a selection rule, the value tables show only the chosen variant of each swept method
   * (every variant stays in the results); true shows every variant. @default false
   */
  readonly allVariants?: boolean;
}

/** `mean ± std [low, high]` (the 95% interval), the mean alone for one seed, or the divergence. */
function formatAggregate(a: Aggregate): string {
  if (a.diverged.length > 0) return `diverged on ${a.diverged.length} of ${a.seeds.length} seed${a.seeds.length === 1 ? '' : 's'}`;
  if (a.n < 2) return formatNumber(a.mean);
  const decimals = decimalsFor(a.mean);
  return `${formatNumber(a.mean)} ± ${formatNumber(a.std, decimals)} [${formatNumber(a.ci95[0], decimals)}, ${formatNumber(a.ci95[1], decimals)}]`;
}

type ModelKey = { readonly unlearner: string; readonly budget: number | null };
const sameModel = (a: ModelKey, b: ModelKey) => a.unlearner === b.unlearner && a.budget === b.budget;

/**
 * Renders the aggregates as tables: per setup and attack, values (mean ± std [95% interval]) then
 * one table per summary metric, each titled with the rule that reads it. A folder holding several
 * setups (runs of different manifests or recipes) gets separate tables, each naming its manifest.
 */
export function formatSummary(records: readonly ResultRecord[], format: SummaryFormat = {}): string {
  const setups = bySetup(records);
  // Each attack of a manifest is its own setup; tables name the manifest only where two setups
  // share an attack label (runs of different manifests or recipes in one folder).
  const attackCount = new Map<string, number>();
  for (const attack of setups.flatMap((rs) => [...new Set(rs.map((r) => r.attack))])) attackCount.set(attack, (attackCount.get(attack) ?? 0) + 1);
  const blocks: string[] = [];
  for (const setupRecords of setups) blocks.push(...formatSetup(setupRecords, format, setupRecords.some((r) => (attackCount.get(r.attack) ?? 0) > 1)));
  return blocks.join('\n\n');
}

function formatSetup(records: readonly ResultRecord[], format: SummaryFormat, nameSetup: boolean): string[] {
  const specs = format.specs ?? format.summaries?.[0]?.specs ?? new Map();
  const aggregates = aggregate(records, specs);
  const chosen = selectVariants(aggregates, format.summaries?.[0]?.selection);
  // Summary metrics see every metric (a filter only changes what is shown), so a verdict's family
  // of tests and a method's verdict over all its metrics are the same as in summary.jsonl.
  const outputs = summarizeAggregates(aggregates, format.summaries ?? [], chosen);
  const attacks = [...new Set(aggregates.map((a) => a.attack))];
  const blocks: string[] = [];
  const statedRules = new Set<string>();
  let hiddenVariants = false;
  const setupName = nameSetup && aggregates.length > 0 ? ` · manifest ${aggregates[0].experiment} (setup ${aggregates[0].setup.slice(0, 8)})` : '';
  for (const attack of attacks) {
    const rows = aggregates.filter((a) => a.attack === attack);
    const present = [...new Set(rows.map((r) => r.metric))];
    const metrics = format.metrics ? format.metrics.filter((m) => present.includes(m)) : present;
    const everyModel = [...new Map(rows.map((r) => [`${r.unlearner}|${r.budget}`, { unlearner: r.unlearner, budget: r.budget }])).values()];
    const unchosen = (m: ModelKey) => chosen.picks.get(modelKey({ attack, ...m }))?.selected === false;
    const models = format.allVariants ? everyModel : everyModel.filter((m) => !unchosen(m));
    hiddenVariants ||= models.length < everyModel.length;
    const order = (m: ModelKey) => (m.unlearner === 'none' ? 0 : m.unlearner === 'retrain' ? 1 : m.budget === null ? 1.5 : 2);
    // References first; then each method's rows together (a swept method's variants under its
    // name), by budget, then variant label.
    const method = (m: ModelKey) => variantOf(m.unlearner) ?? m.unlearner;
    models.sort((a, b) => order(a) - order(b) || method(a).localeCompare(method(b)) || (a.budget ?? -1) - (b.budget ?? -1) || a.unlearner.localeCompare(b.unlearner));
    const seedsCount = Math.max(...rows.map((r) => r.seeds.length));
    const label = (m: ModelKey) =>
      m.unlearner === 'none' ? 'none (poisoned)' : m.unlearner === 'retrain' ? 'retrain (reference)' : chosen.picks.get(modelKey({ attack, ...m }))?.selected ? `${m.unlearner} *` : m.unlearner;
    const find = (m: ModelKey, metric: string) => rows.find((r) => sameModel(r, m) && r.metric === metric);
    // A diverged model has records only for its metrics' primary keys: its other columns say so too.
    const divergedOf = (m: ModelKey) => rows.find((r) => sameModel(r, m) && r.diverged.length > 0);
    // Text tables print their metrics in chunks so each fits a terminal.
    const chunk = format.markdown ? Math.max(1, metrics.length) : METRICS_PER_TABLE;
    for (let start = 0; start < metrics.length; start += chunk) {
      const shown = metrics.slice(start, start + chunk);
      const last = start + chunk >= metrics.length;
      const values = models.map((m) => [
        label(m),
        formatBudget(m.budget),
        ...shown.map((metric) => {
          const a = find(m, metric) ?? divergedOf(m);
          if (!a) return '';
          return a.diverged.length === 0 && a.n > 0 && a.n < seedsCount ? `${formatAggregate(a)} (n=${a.n})` : formatAggregate(a);
        }),
      ]);
      const stats = seedsCount > 1 ? 'mean ± std [95% interval of the mean]' : 'mean ± std';
      blocks.push(table(`attack: ${attack}${setupName}   (${stats} over ${seedsCount} seed${seedsCount === 1 ? '' : 's'})`, ['model', 'budget', ...shown], values, format.markdown));
      for (const { result } of outputs) {
        // Only printed cells count: a metric column or model row without one is left out.
        const cells = result.cells.filter((c) => c.attack === attack && c.text !== undefined && shown.includes(c.metric));
        const columns = shown.filter((metric) => cells.some((c) => c.metric === metric));
        const extra = last ? (result.rows ?? []).filter((r) => r.attack === attack && r.text !== undefined) : [];
        if (columns.length === 0 && extra.length === 0) continue;
        const header = ['model', 'budget', ...columns, ...(extra.length > 0 ? [result.rowHeader ?? 'verdict'] : [])];
        const body = models
          .filter((m) => cells.some((c) => sameModel(c, m)) || extra.some((r) => sameModel(r, m)))
          .map((m) => [
            label(m),
            formatBudget(m.budget),
            ...columns.map((metric) => cells.find((c) => sameModel(c, m) && c.metric === metric)?.text ?? ''),
            ...(extra.length > 0 ? [extra.find((r) => sameModel(r, m))?.text ?? ''] : []),
          ]);
        // The rule is stated once per attack; later chunks of the same table refer to it.
        const ruleKey = `${result.title}|${attack}`;
        if (body.length === 0) continue;
        blocks.push(table(`${result.title}, ${attack}${setupName}: ${statedRules.has(ruleKey) ? '(rule as above)' : result.rule}`, header, body, format.markdown));
        statedRules.add(ruleKey);
      }
    }
    const grid = selectionTable(attack, everyModel, chosen, format.summaries?.[0]?.selection);
    if (grid) blocks.push(table(`${grid.title}, ${attack}${setupName}: ${grid.rule}`, grid.header, grid.body, format.markdown));
  }
  const hidden = hiddenVariants ? ['note: the value tables show the chosen variant of each swept method; every variant is in results.jsonl and summary.jsonl, and `report --all-variants` prints them all.'] : [];
  const warnings = [...modelWarnings(records)].map(([key, text]) => {
    const [attack, unlearner, budget] = JSON.parse(key) as [string, string, number | null];
    return `warning: ${unlearner} @ ${formatBudget(budget)} (${attack}) ${text}.`;
  });
  const notes = [...warnings, ...hidden, ...chosen.notes.map((note) => `note: ${note}`), ...outputs.flatMap(({ selection, result }) => (result.notes ?? []).map((note) => `note (${selection.label}): ${note}`))];
  if (notes.length > 0) blocks.push([...new Set(notes)].join('\n'));
  return blocks;
}

/** `k=v` pairs of a variant label `name[k1=v1,k2=v2]`, split at top-level commas (values may be JSON). */
export function variantValues(label: string): [string, string][] {
  const inner = /^[^[]+\[(.*)\]$/.exec(label)?.[1];
  if (inner === undefined) return [];
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of inner) {
    if (ch === '"' && !current.endsWith('\\')) quoted = !quoted;
    else if (!quoted && (ch === '[' || ch === '{')) depth++;
    else if (!quoted && (ch === ']' || ch === '}')) depth--;
    if (ch === ',' && depth === 0 && !quoted) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((part) => {
    const at = part.indexOf('=');
    return [part.slice(0, at), part.slice(at + 1)];
  });
}

/** Numeric values in increasing order; others as they came. */
function sortValues(values: readonly string[]): string[] {
  return values.every((v) => Number.isFinite(Number(v))) ? [...values].sort((a, b) => Number(a) - Number(b)) : [...values];
}

/**
 * Per swept method: the grid (each key's values, in grid order) and the values the selection rule
 * chose at each budget (marked † where no variant met the rule's constraint). Undefined when no
 * rule chose anything for the attack.
 */
function selectionTable(attack: string, models: readonly ModelKey[], chosen: VariantSelection, rule: SelectionRule | undefined): { title: string; rule: string; header: string[]; body: string[][] } | undefined {
  const picks = models.map((m) => ({ m, pick: chosen.picks.get(modelKey({ attack, ...m })) })).filter((p) => p.pick !== undefined);
  if (!rule || picks.length === 0) return undefined;
  const budgets = [...new Set(picks.map((p) => p.m.budget))].sort((a, b) => (a ?? -1) - (b ?? -1));
  const methods = [...new Set(picks.map((p) => p.pick!.of))];
  const body = methods.map((of) => {
    const mine = picks.filter((p) => p.pick!.of === of);
    const grid = new Map<string, string[]>();
    for (const { m } of mine) for (const [k, v] of variantValues(m.unlearner)) if (!(grid.get(k) ?? []).includes(v)) grid.set(k, [...(grid.get(k) ?? []), v]);
    const variants = new Set(mine.map((p) => p.m.unlearner)).size;
    return [
      of,
      `${[...grid].map(([k, vs]) => `${k} ∈ {${sortValues(vs).join(', ')}}`).join(' × ')} (${variants})`,
      ...budgets.map((budget) => {
        const pick = mine.find((p) => p.m.budget === budget && p.pick!.selected);
        if (!pick) return mine.some((p) => p.m.budget === budget) ? 'none (every variant diverged)' : '';
        const values = variantValues(pick.m.unlearner);
        // A numeric value at either end of a key's range of 3 or more: a wider grid might do better.
        const edge = values.some(([k, v]) => {
          const range = sortValues(grid.get(k) ?? []);
          return range.length >= 3 && Number.isFinite(Number(v)) && (v === range[0] || v === range[range.length - 1]);
        });
        return values.map(([k, v]) => `${k}=${v}`).join(', ') + (pick.pick!.unconstrained ? ' †' : '') + (edge ? ' ‡' : '');
      }),
    ];
  });
  const how = rule.rule === 'oracle' ? `closest to retraining on ${rule.metric} within ${rule.maxAccuracyDrop} of the poisoned model's ${rule.validationMetric}` : `best ${rule.validationMetric}`;
  return {
    title: 'selection',
    rule: `per swept method, its grid (number of variants) and the values chosen at each budget (${rule.rule}: ${how}; † no variant met the constraint, the best ${rule.validationMetric} chosen; ‡ a value at the end of its range of 3 or more: a wider grid might do better)`,
    header: ['method', 'grid', ...budgets.map((b) => formatBudget(b))],
    body,
  };
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
 * Writes `summary.jsonl` atomically into `dir`: one line per setup × attack × model × metric
 * aggregate (mean, std, ci95, n, seeds, per-seed values, diverged seeds; null where undefined),
 * plus the fields each summary metric adds to it (e.g. `verdict`, `methodVerdict`). A field name
 * already on the line is written as `<summary label>.<field>`.
 */
export function writeSummaryJsonl(dir: string, records: readonly ResultRecord[], summaries: readonly SummarySelection[] = []): string {
  const path = join(dir, 'summary.jsonl');
  const specs = summaries[0]?.specs ?? new Map();
  const lines: string[] = [];
  for (const setupRecords of bySetup(records)) {
    const aggregates = aggregate(setupRecords, specs);
    const chosen = selectVariants(aggregates, summaries[0]?.selection);
    const outputs = summarizeAggregates(aggregates, summaries, chosen);
    const warnings = modelWarnings(setupRecords);
    for (const a of aggregates) {
      const { details: _details, spec, ...rest } = a;
      const pick = chosen.picks.get(modelKey(a));
      const line: Record<string, unknown> = {
        ...rest,
        std: finite(a.std),
        mean: finite(a.mean),
        ci95: a.ci95.map(finite),
        ...(spec.range ? { range: spec.range } : {}),
        ...(pick ? { variantOf: pick.of, selected: pick.selected, selectedFrom: pick.among } : {}),
        ...(warnings.has(modelKey(a)) ? { warning: warnings.get(modelKey(a)) } : {}),
      };
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
      lines.push(JSON.stringify(line));
    }
  }
  writeFileAtomic(path, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return path;
}
