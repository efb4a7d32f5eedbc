/**
 * The self-contained HTML report of a run folder: charts (Vega-Lite, rendered by vega-embed, all
 * three libraries inlined from node_modules), the verdict matrix and the run's facts, built from
 * the store alone (results.db, run.json), so a copied folder gives the same file.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SeedAggregate } from '../plugin/types.ts';
import { formatBudget } from '../runner/plan.ts';
import { modelKey, selectVariants } from '../runner/selection.ts';
import { ResultsStore, type ResultRecord } from '../runner/store.ts';
import { aggregate, runSummaryMetrics, type SummaryOutput, type SummarySelection } from '../runner/summary.ts';
import { writeFileAtomic } from '../runner/files.ts';
import { binScores, metricChartSpec, scoreHistogramSpec, verdictMatrixSpec, type MethodPoint, type ReferenceLevel, type ScoreBin, type VerdictCell } from './specs.ts';

/** What the report is built from. */
export interface HtmlReportInput {
  /** Every stored result record. */
  readonly records: readonly ResultRecord[];
  /** The run's summary metrics (e.g. the verdict), as `report` selects them. */
  readonly summaries: readonly SummarySelection[];
  /** The parsed run.json, if the folder has one. */
  readonly runInfo?: Readonly<Record<string, unknown>>;
  /** Cells that failed and are not finished. */
  readonly failures?: readonly { cell: string; message: string }[];
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

const label = (a: Pick<SeedAggregate, 'unlearner' | 'budget'>) =>
  a.unlearner === 'none' ? 'none (poisoned)' : a.unlearner === 'retrain' ? 'retrain (reference)' : a.budget === null ? a.unlearner : `${a.unlearner} @ ${formatBudget(a.budget)}`;
const order = (a: Pick<SeedAggregate, 'unlearner' | 'budget'>) => (a.unlearner === 'none' ? 0 : a.unlearner === 'retrain' ? 1 : a.budget === null ? 2 : 3);
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** The per-poison scores of one seed's details (`scores`, as `core/gus` stores them), if any. */
function storedScores(details: SeedAggregate['details'][number]): number[] {
  const text = details?.scores;
  return typeof text === 'string' && text !== '' ? text.split(' ').map(Number) : [];
}

interface Chart {
  readonly id: string;
  readonly spec: Record<string, unknown>;
  readonly note: string;
  readonly caption?: string;
}

/** Charts of one attack of one setup. */
function attackCharts(attack: string, aggregates: readonly SeedAggregate[], outputs: readonly SummaryOutput[], prefix: string): { charts: Chart[]; diverged: string[] } {
  const rows = aggregates.filter((a) => a.attack === attack);
  const charts: Chart[] = [];
  const diverged = [...new Set(rows.filter((a) => a.diverged.length > 0).map((a) => `${label(a)}: diverged on ${a.diverged.length} of ${a.seeds.length} seed(s) (${a.divergedReason})`))];
  const metrics = [...new Set(rows.map((a) => a.metric))];
  for (const metric of metrics) {
    const mine = rows.filter((a) => a.metric === metric);
    const references: ReferenceLevel[] = mine
      .filter((a) => a.budget === null && a.diverged.length === 0 && Number.isFinite(a.mean))
      .map((a) => ({
        model: label(a),
        kind: a.role === 'poisoned' ? 'poisoned' : a.role === 'retrained' ? 'retrained' : 'replica',
        mean: a.mean,
        low: finiteOrNull(a.ci95[0]),
        high: finiteOrNull(a.ci95[1]),
      }));
    const points: MethodPoint[] = mine
      .filter((a) => a.budget !== null && a.diverged.length === 0 && Number.isFinite(a.mean))
      .map((a) => ({ method: a.unlearner, budget: a.budget!, mean: a.mean, low: finiteOrNull(a.ci95[0]), high: finiteOrNull(a.ci95[1]) }));
    if (points.length === 0 && references.length === 0) continue;
    charts.push({
      id: `${prefix}-metric-${charts.length}`,
      spec: metricChartSpec(metric, points, references),
      note: `Each line is a method's mean ${metric} over seeds at each budget, with its 95% interval as a shaded band. The blue band is the retrained model's 95% interval (the light blue one its independent replica's: the spread seed noise alone gives); the dashed red line is the poisoned model. A method that removed the poison's effect lies inside the blue band.`,
    });
  }
  const verdict = outputs.find((o) => o.result.cells.some((c) => c.attack === attack && typeof c.fields?.verdict === 'string'));
  if (verdict) {
    const cells: VerdictCell[] = [];
    const sortKey = (unlearner: string, budget: number | null) => order({ unlearner, budget }) * 1e6 + (budget ?? 0) * 1e3;
    const byModel = (unlearner: string, budget: number | null) => label({ unlearner, budget });
    for (const c of verdict.result.cells) if (c.attack === attack && typeof c.fields?.verdict === 'string') cells.push({ model: byModel(c.unlearner, c.budget), metric: c.metric, verdict: c.fields.verdict, text: c.text ?? c.fields.verdict, order: sortKey(c.unlearner, c.budget) });
    for (const r of verdict.result.rows ?? []) {
      const v = r.fields?.methodVerdict;
      if (r.attack === attack && typeof v === 'string') cells.push({ model: byModel(r.unlearner, r.budget), metric: 'all metrics', verdict: v, text: v, order: sortKey(r.unlearner, r.budget) });
    }
    const tests = [...new Set(verdict.result.cells.filter((c) => c.attack === attack).map((c) => c.fields?.test).filter((t): t is string => typeof t === 'string'))];
    charts.push({
      id: `${prefix}-verdict`,
      spec: verdictMatrixSpec(cells),
      note: 'Each cell compares one model with the retrained model on one metric: green is shown equivalent within the margin, red shown different, grey inconclusive (neither could be shown with these seeds), purple diverged. The text is the mean difference (or, for GUS, the pooled mean score) with its interval; the last column is the verdict over all metrics.',
      caption: `${verdict.result.title} (${verdict.selection.use}; tests: ${tests.join('; ')}): ${verdict.result.rule}`,
    });
  }
  const scoreMetrics = metrics.filter((m) => rows.some((a) => a.metric === m && a.details.some((d) => storedScores(d).length > 0)));
  for (const metric of scoreMetrics) {
    const models = rows.filter((a) => a.metric === metric && a.diverged.length === 0).sort((a, b) => order(a) - order(b) || a.unlearner.localeCompare(b.unlearner) || (a.budget ?? 0) - (b.budget ?? 0));
    const bins: ScoreBin[] = [];
    const shown: string[] = [];
    for (const a of models) {
      const scores = a.details.flatMap(storedScores);
      if (scores.length === 0) continue;
      const mean = scores.reduce((s, v) => s + v, 0) / scores.length;
      const name = `${label(a)}: mean I ${mean.toFixed(3)}, z ${(Math.sqrt(scores.length) * mean).toFixed(1)}`;
      shown.push(name);
      bins.push(...binScores(name, scores));
    }
    charts.push({
      id: `${prefix}-scores-${metric.replace(/[^A-Za-z0-9]/g, '-')}`,
      spec: scoreHistogramSpec(metric, shown, bins),
      note: `Histograms of the per-poison scores I of every seed pooled, one panel per model, over the N(0, 1) density (dashed), which is their exact distribution for a model that never saw the poisons. Mass shifted to the left (negative I, z = √K · mean I far below −3) means the poisons are remembered.`,
    });
  }
  return { charts, diverged };
}

/** Compute per model: mean seconds and forward+backward examples over seeds (one record per cell). */
function computeTable(records: readonly ResultRecord[]): string {
  const cells = new Map<string, ResultRecord>();
  for (const r of records) cells.set(r.cell, r);
  const models = new Map<string, { a: ResultRecord; seconds: number[]; examples: number[] }>();
  for (const r of cells.values()) {
    const key = JSON.stringify([r.setup, r.attack, r.unlearner, r.budget]);
    const entry = models.get(key) ?? { a: r, seconds: [], examples: [] };
    entry.seconds.push(r.seconds);
    entry.examples.push(r.examples);
    models.set(key, entry);
  }
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const body = [...models.values()]
    .sort((x, y) => x.a.attack.localeCompare(y.a.attack) || order(x.a) - order(y.a) || x.a.unlearner.localeCompare(y.a.unlearner) || (x.a.budget ?? 0) - (y.a.budget ?? 0))
    .map(({ a, seconds, examples }) => `<tr><td>${escapeHtml(a.attack)}</td><td>${escapeHtml(label(a))}</td><td>${seconds.length}</td><td>${mean(seconds).toFixed(2)} s</td><td>${Math.round(mean(examples)).toLocaleString('en-US')}</td><td>${a.budgetExamples === null ? '' : a.budgetExamples.toLocaleString('en-US')}</td></tr>`);
  const total = [...cells.values()].reduce((s, r) => s + r.seconds, 0);
  return `<table><thead><tr><th>attack</th><th>model</th><th>seeds</th><th>mean time</th><th>mean examples (forward+backward)</th><th>budget (examples)</th></tr></thead><tbody>${body.join('')}</tbody></table><p class="note">Time summed over all cells: ${total.toFixed(1)} s (the cells' own time; wall time is shorter with worker processes).</p>`;
}

/** The run's facts from run.json and the records. */
function factsSection(records: readonly ResultRecord[], runInfo: Readonly<Record<string, unknown>> | undefined): string {
  const info = runInfo ?? {};
  const backend = info.backend as { backend?: string; reason?: string; threads?: number } | undefined;
  const versions = info.versions as { node?: string; tfjs?: string; plugins?: Record<string, string> } | undefined;
  const seeds = [...new Set(records.map((r) => r.seed))].sort((a, b) => a - b);
  const hashes = [...new Set(records.map((r) => r.manifestHash))];
  const rows: [string, string][] = [
    ['experiment', String(info.experiment ?? [...new Set(records.map((r) => r.experiment))].join(', '))],
    ['manifest hash', String(info.manifestHash ?? hashes.join(', '))],
    ['seeds', seeds.join(', ')],
    ['backend', backend ? `${backend.backend ?? '?'} (${backend.reason ?? ''}${backend.threads ? `, ${backend.threads} thread(s)` : ''})` : [...new Set(records.map((r) => r.backend))].join(', ')],
    ['versions', versions ? [`node ${versions.node}`, `tfjs ${versions.tfjs}`, ...Object.entries(versions.plugins ?? {}).map(([n, v]) => `${n} ${v}`)].join(', ') : 'not recorded (no run.json)'],
    ['started', String(info.startedAt ?? 'not recorded')],
  ];
  const manifest = info.manifest === undefined ? '' : `<details><summary>resolved manifest (every option with its default, as run.json records it)</summary><pre>${escapeHtml(JSON.stringify(info.manifest, null, 2))}</pre></details>`;
  return `<table class="facts">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>${manifest}<h3>Compute per model</h3>${computeTable(records)}`;
}

/** Path of a file inside an installed package (resolved from core, as Node would load it). */
function packageFile(name: string, file: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(realpathSync(require.resolve(name)));
  while (!existsSync(join(dir, 'package.json')) || (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== name) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folder of package '${name}'`);
    dir = parent;
  }
  return join(dir, file);
}

/** The charting libraries' browser bundles, in load order (vega, vega-lite, vega-embed). */
export function chartLibraries(): string[] {
  return [packageFile('vega', 'build/vega.min.js'), packageFile('vega-lite', 'build/vega-lite.min.js'), packageFile('vega-embed', 'build/vega-embed.min.js')].map((path) =>
    readFileSync(path, 'utf8').replace(/<\/(script)/gi, '<\\/$1'),
  );
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
.chart{margin:16px 0 24px}.note{color:#555;max-width:860px;margin:4px 0}.caption{color:#333;font-size:12px;max-width:1000px;white-space:pre-wrap}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}.facts th{background:#f5f5f5}
pre{font-size:12px;background:#f8f8f8;padding:8px;overflow:auto;max-height:400px}.warn{color:#8a1c1c}`;

/**
 * The report as one HTML page. Deterministic: the same records, summaries and run.json give the
 * same bytes (the only time in it is the run's own start, from run.json).
 */
export function buildHtmlReport(input: HtmlReportInput): string {
  const specs = input.summaries[0]?.specs ?? new Map();
  const setups = new Map<string, ResultRecord[]>();
  for (const r of input.records) setups.set(r.setup, [...(setups.get(r.setup) ?? []), r]);
  const sections: string[] = [];
  const charts: Chart[] = [];
  let s = 0;
  for (const records of setups.values()) {
    const all = aggregate(records, specs);
    const chosen = selectVariants(all, input.summaries[0]?.selection);
    const aggregates = all.filter((a) => chosen.picks.get(modelKey(a))?.selected !== false);
    const outputs = runSummaryMetrics(records, input.summaries, specs);
    for (const attack of [...new Set(aggregates.map((a) => a.attack))]) {
      const { charts: mine, diverged } = attackCharts(attack, aggregates, outputs, `c${s}`);
      s += 1;
      charts.push(...mine);
      const title = setups.size > 1 ? `attack: ${attack} · ${records[0].experiment} (setup ${records[0].setup.slice(0, 8)})` : `attack: ${attack}`;
      const seeds = Math.max(...aggregates.filter((a) => a.attack === attack).map((a) => a.seeds.length));
      sections.push(
        `<section><h2>${escapeHtml(title)}</h2><p class="note">${seeds} seed(s); means over seeds with 95% t-intervals${chosen.picks.size > 0 ? '; for swept methods, the variant the selection rule chose' : ''}.</p>` +
          (diverged.length > 0 ? `<ul class="warn">${diverged.map((d) => `<li>${escapeHtml(d)}</li>`).join('')}</ul>` : '') +
          mine
            .map((c) => `<div class="chart"><div id="${c.id}"></div>${c.caption ? `<p class="caption">${escapeHtml(c.caption)}</p>` : ''}<p class="note">${escapeHtml(c.note)}</p></div>`)
            .join('') +
          '</section>',
      );
    }
  }
  const failures = input.failures ?? [];
  const failed = failures.length > 0 ? `<section><h2>Failed cells (not finished)</h2><ul class="warn">${failures.map((f) => `<li>${escapeHtml(f.cell)}: ${escapeHtml(f.message)}</li>`).join('')}</ul></section>` : '';
  const name = String(input.runInfo?.experiment ?? input.records[0]?.experiment ?? 'run');
  const scripts = chartLibraries().map((code) => `<script>${code}</script>`).join('\n');
  // vega-embed's promise per chart; window.__chartsReady resolves when every one rendered (or rejects).
  const boot = `const charts=${scriptJson(charts.map((c) => ({ id: c.id, spec: c.spec })))};
window.__chartsReady=Promise.all(charts.map(c=>vegaEmbed('#'+c.id,c.spec,{actions:false,renderer:'svg'}))).then(r=>r.length);`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:">
<title>unlearn-bench report: ${escapeHtml(name)}</title><style>${STYLE}</style>
${scripts}
</head><body>
<h1>unlearn-bench report: ${escapeHtml(name)}</h1>
<p class="note">Made by <code>unlearn-bench report &lt;DIR&gt; --html</code> from the run folder's store alone; opens offline, loads nothing.</p>
${sections.join('\n')}
${failed}
<section><h2>Run</h2>${factsSection(input.records, input.runInfo)}</section>
<script>${boot}</script>
</body></html>
`;
}

/**
 * Reads the store in `dir` (read-only) and its run.json, and writes the HTML report to `file`
 * (default `dir/report.html`); returns the path written.
 */
export function writeHtmlReport(dir: string, summaries: readonly SummarySelection[], file: string = join(dir, 'report.html')): string {
  const store = new ResultsStore(dir, { readonly: true });
  try {
    const runJson = join(dir, 'run.json');
    const runInfo = existsSync(runJson) ? (JSON.parse(readFileSync(runJson, 'utf8')) as Record<string, unknown>) : undefined;
    writeFileAtomic(file, buildHtmlReport({ records: store.records(), summaries, runInfo, failures: store.unfinishedFailures() }));
    return file;
  } finally {
    store.close();
  }
}
