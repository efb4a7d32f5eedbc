/**
 * The Vega-Lite specs of the HTML report, as plain functions of the rows they draw. Every spec
 * carries its data inline (`data.values`): nothing is ever loaded from a URL.
 */

/** One point of a method's line: a metric's mean over seeds at one budget, with its 95% interval. */
export interface MethodPoint {
  readonly method: string;
  readonly budget: number;
  readonly mean: number;
  readonly low: number | null;
  readonly high: number | null;
}

/** A model drawn as a horizontal reference (poisoned, retrained, replica): mean and band. */
export interface ReferenceLevel {
  readonly model: string;
  readonly kind: 'poisoned' | 'retrained' | 'replica';
  readonly mean: number;
  readonly low: number | null;
  readonly high: number | null;
}

/** One cell of the verdict matrix. */
export interface VerdictCell {
  /** Row: the model, e.g. `gd @ 5%`. */
  readonly model: string;
  /** Column: the stored metric key, or `all metrics` for the row verdict. */
  readonly metric: string;
  readonly verdict: string;
  readonly text: string;
  /** Sort key of the row. */
  readonly order: number;
}

/** One bar of a histogram of per-poison scores, as a density (area 1 over all bars). */
export interface ScoreBin {
  readonly model: string;
  readonly x0: number;
  readonly x1: number;
  readonly density: number;
}

/** Verdicts and their colours, fixed so a colour means the same in every report. */
export const VERDICT_COLOURS: Readonly<Record<string, string>> = {
  different: '#d6604d',
  equivalent: '#4dac26',
  inconclusive: '#d9d9d9',
  insufficient: '#f7f7f7',
  diverged: '#542788',
};

const REFERENCE_COLOURS = { poisoned: '#b2182b', retrained: '#2166ac', replica: '#67a9cf' } as const;
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json'; // an identifier, never fetched

/**
 * A metric against the budget: one line per method with its 95% interval band; the retrained
 * model (and its replica) as horizontal bands over their intervals with a rule at the mean; the
 * poisoned model as a dashed rule.
 */
export function metricChartSpec(metric: string, points: readonly MethodPoint[], references: readonly ReferenceLevel[]): Record<string, unknown> {
  const budgets = [...new Set(points.map((p) => p.budget))].sort((a, b) => a - b);
  const methods = [...new Set(points.map((p) => p.method))];
  const domain = [...references.map((r) => r.model), ...methods];
  const palette = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02', '#a6761d', '#666666', '#17becf', '#bcbd22'];
  const range = [...references.map((r) => REFERENCE_COLOURS[r.kind]), ...methods.map((_, i) => palette[i % palette.length])];
  const color = { field: 'model', type: 'nominal', title: 'model', scale: { domain, range } };
  const x = { field: 'budget', type: 'quantitative', title: 'budget (share of retraining compute)', axis: { format: '.0%', values: budgets }, scale: { zero: false, nice: false, padding: 12 } };
  const y = { field: 'mean', type: 'quantitative', title: metric, scale: { zero: false } };
  const bands = references.filter((r) => r.kind !== 'poisoned' && r.low !== null && r.high !== null);
  return {
    $schema: SCHEMA,
    title: metric,
    width: 360,
    height: 220,
    layer: [
      { data: { values: bands.map((r) => ({ model: r.model, low: r.low, high: r.high })) }, mark: { type: 'rect', opacity: 0.15 }, encoding: { y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color } },
      {
        data: { values: references.map((r) => ({ model: r.model, mean: r.mean, dash: r.kind === 'poisoned' ? 'dashed' : 'solid' })) },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: { y, color, strokeDash: { field: 'dash', type: 'nominal', scale: { domain: ['solid', 'dashed'], range: [[1, 0], [6, 4]] }, legend: null } },
      },
      {
        data: { values: points.filter((p) => p.low !== null && p.high !== null).map((p) => ({ model: p.method, budget: p.budget, low: p.low, high: p.high })) },
        mark: { type: 'area', opacity: 0.2 },
        encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color },
      },
      {
        data: { values: points.map((p) => ({ model: p.method, budget: p.budget, mean: p.mean })) },
        mark: { type: 'line', point: true },
        encoding: { x, y, color, tooltip: [{ field: 'model' }, { field: 'budget', format: '.0%' }, { field: 'mean', format: '.4f' }] },
      },
    ],
  };
}

/** The verdict matrix: a row per model (method × budget), a column per metric, coloured by verdict. */
export function verdictMatrixSpec(cells: readonly VerdictCell[]): Record<string, unknown> {
  const rows = [...new Map([...cells].sort((a, b) => a.order - b.order).map((c) => [c.model, c])).keys()];
  const columns = [...new Set(cells.map((c) => c.metric))];
  return {
    $schema: SCHEMA,
    data: { values: cells.map((c) => ({ ...c })) },
    width: Math.max(120, 150 * columns.length),
    height: { step: 24 },
    encoding: {
      x: { field: 'metric', type: 'nominal', sort: columns, title: null, axis: { orient: 'top', labelAngle: 0 } },
      y: { field: 'model', type: 'nominal', sort: rows, title: null },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          color: { field: 'verdict', type: 'nominal', title: 'verdict', scale: { domain: Object.keys(VERDICT_COLOURS), range: Object.values(VERDICT_COLOURS) } },
          tooltip: [{ field: 'model' }, { field: 'metric' }, { field: 'verdict' }, { field: 'text' }],
        },
      },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'text' }, color: { condition: { test: "datum.verdict === 'diverged'", value: 'white' }, value: 'black' } } },
    ],
  };
}

/** Standard normal density at `x`. */
export function normalDensity(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/**
 * Histograms of per-poison scores, one panel per model (in `models` order), each over the N(0, 1)
 * density: the distribution of the scores of a model that never saw the poisons.
 */
export function scoreHistogramSpec(metric: string, models: readonly string[], bins: readonly ScoreBin[]): Record<string, unknown> {
  const low = Math.min(-4, ...bins.map((b) => b.x0));
  const high = Math.max(4, ...bins.map((b) => b.x1));
  const steps = 80;
  const curve = models.flatMap((model) => Array.from({ length: steps + 1 }, (_, i) => low + ((high - low) * i) / steps).map((x) => ({ model, layer: 'null', x, density: normalDensity(x) })));
  const x = { field: 'x0', type: 'quantitative', title: `score I (${metric})`, scale: { domain: [low, high] } };
  return {
    $schema: SCHEMA,
    title: `${metric}: per-poison scores`,
    data: { values: [...bins.map((b) => ({ ...b, layer: 'bins' })), ...curve] },
    facet: { field: 'model', type: 'nominal', sort: [...models], title: null },
    columns: 4,
    spec: {
      width: 180,
      height: 110,
      layer: [
        { transform: [{ filter: "datum.layer === 'bins'" }], mark: { type: 'rect', color: '#7570b3', opacity: 0.75 }, encoding: { x, x2: { field: 'x1' }, y: { field: 'density', type: 'quantitative', title: 'density' } } },
        { transform: [{ filter: "datum.layer === 'null'" }], mark: { type: 'line', color: 'black', strokeDash: [4, 3] }, encoding: { x: { ...x, field: 'x' }, y: { field: 'density', type: 'quantitative' } } },
      ],
    },
  };
}

/**
 * Density histogram of `scores` with bins of `width` aligned on multiples of it (so every panel
 * shares its bin edges); empty bins are left out.
 */
export function binScores(model: string, scores: readonly number[], width = 0.25): ScoreBin[] {
  const counts = new Map<number, number>();
  for (const s of scores) {
    if (!Number.isFinite(s)) continue;
    const i = Math.floor(s / width);
    counts.set(i, (counts.get(i) ?? 0) + 1);
  }
  const n = [...counts.values()].reduce((a, b) => a + b, 0);
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([i, c]) => ({ model, x0: i * width, x1: (i + 1) * width, density: c / (n * width) }));
}
