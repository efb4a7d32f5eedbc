/**
 * The `unlearn-bench` command line. The bin (package @unlearn-bench/cli) supplies the built-in
 * plugins and the engine factory, so core depends on no other package of ours.
 *
 * Exit codes: 0 success; 1 some cell failed (the others finished and are saved) or an unexpected
 * error; 2 invalid input (usage, manifest, unknown plugin, unavailable backend).
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRootContainer } from '../container.ts';
import { engineKey, type BackendName, type EngineInfo } from '../engine.ts';
import { EngineError, InvalidManifestError, UnlearnBenchError, UsageError } from '../errors.ts';
import type { Logger, ProgressEvent, TextSink } from '../logger.ts';
import { loadManifest, type Experiment } from '../manifest/manifest.ts';
import { loadManifestPlugins } from '../manifest/plugins.ts';
import { buildRegistry, type Registry } from '../plugin/registry.ts';
import { isSummaryMetric, type ContributionKind, type Plugin } from '../plugin/types.ts';
import { planCells } from '../runner/plan.ts';
import { formatDuration, rewriteExportAtStart, Runner, type CellEvent } from '../runner/runner.ts';
import { ResultsStore, type ResultRecord } from '../runner/store.ts';
import type { StandbyWorker } from '../runner/standby.ts';
import { runWorkers } from '../runner/workers.ts';
import { lockFolder } from '../runner/files.ts';
import { REGISTRY } from '../tokens.ts';
import { scaffoldPlugin } from './scaffold.ts';
import { writeHtmlReport } from '../report/html.ts';
import { LiveProgress, parseCellLine, wantsLiveProgress, type ProgressMessage } from './progress.ts';
import type { SelectionRule } from '../manifest/manifest.ts';
import { DEFAULT_SUMMARY_METRICS, formatSummary, selectSummaryMetrics, writeSummaryJsonl, type MetricRefLike, type SummarySelection } from '../runner/summary.ts';

/** What the CLI needs from its host. */
export interface CliHost {
  /** Built-in plugins, registered before anything else. */
  readonly plugins: readonly Plugin[];
  /** Selects the tensor backend. */
  createEngine(backend: BackendName | 'auto'): Promise<EngineInfo>;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Program version shown by --version. */
  readonly version: string;
  /** The script that starts this CLI, for `--workers` child processes. */
  readonly binPath: string;
  /**
   * The CLI is the whole process (the bin): after a run that gave up plugin calls at the cell
   * timeout, whose work may never end, it ends the process shortly after the run instead of
   * waiting for that work. @default false
   */
  readonly ownsProcess?: boolean;
  /** A worker process started ahead of need by the bin, used as a run's first worker (see StandbyWorker). */
  readonly standby?: StandbyWorker;
}

/** After a run that gave up plugin calls: ends the process in 2 s if their work still keeps it alive (see CliHost.ownsProcess). */
function endDespiteGivenUpWork(host: CliHost, gaveUp: number, code: number): number {
  if (gaveUp > 0 && host.ownsProcess) setTimeout(() => exitProcess(code), 2000).unref();
  return code;
}

const USAGE = `Usage: unlearn-bench <command> [options]

Commands:
  run <manifest> [--out DIR] [--backend auto|wasm|cpu|tensorflow] [--workers N]
                         Run an experiment; finished cells in DIR are kept and skipped.
                         DIR defaults to runs/<experiment name>. Seed × attack groups run in
                         N worker processes (default: the number of cores); with one, the run
                         still computes in a child process that this one supervises, so a
                         plugin stuck in a loop is failed at its cell timeout and Ctrl-C always
                         stops. --in-process computes here instead (for a debugger).
                         At the end it writes the HTML report DIR/report.html (--no-report: not).
  run <manifest> --queue redis://HOST:PORT [--out DIR]
                         Coordinate the run over queue workers on any machines (BullMQ on
                         Redis; rediss:// for TLS, redis://:PASSWORD@… or the password in
                         UNLEARN_BENCH_REDIS_PASSWORD): one job per unfinished seed × attack
                         group; this process alone writes DIR. Restarted, it picks the queue up.
  worker --queue redis://HOST:PORT [--concurrency N] [--stall-seconds S]
                         Compute the jobs of coordinators on that queue, N at a time (default
                         1), until stopped (Ctrl-C). A worker runs the code the coordinator's
                         manifest names: keep the queue private. A dead worker's job goes to
                         another after S to 2·S seconds (default 30).
  validate <manifest>    Check a manifest; exit 0 if valid, 2 with the problems if not.
                         It imports the plugin modules the manifest names, which runs
                         their code: validate only manifests you trust (it is no sandbox).
  report <DIR> [--metrics a,b,...] [--markdown] [--all-variants] [--html [FILE]]
                         Tables of a finished or partial run from DIR/results.db (summary
                         metrics, e.g. the verdict against retraining, as the run's manifest chose them).
                         Under a selection rule only the chosen variant of each sweep is shown;
                         --all-variants shows every variant. --html writes a self-contained HTML
                         report with charts instead (FILE, default DIR/report.html; opens offline).
  repair <DIR>           Rebuild DIR/results.db from DIR/results.jsonl (e.g. when results.db is
                         damaged); the old file is kept aside. Then report or resume as usual.
  new-plugin <kind> <name> [--out DIR]
                         Write a working plugin package (kind: unlearner, metric, attack) into
                         DIR/unlearn-bench-plugin-<name> (default DIR: .); its npm test runs its
                         test, core's conformance suite and a typecheck.
  list [kind] [--manifest M] [--markdown]
                         Registered plugins with their options (kind: attack, unlearner,
                         metric, model, dataset); --manifest M adds the plugins manifest M
                         loads; --markdown prints docs/plugins.md.

Options:
  --debug                Print stack traces and debug messages.
  --quiet                Only warnings and the final table.
  -h, --help             This help.
  --version              Print the version.

Exit codes: 0 success, 1 some cell failed (others are saved), 2 invalid input (also: Redis
unreachable at start, a worker that refused a job it would compute differently).`;

interface ParsedArgs {
  command: string | undefined;
  positional: string[];
  out?: string;
  backend?: BackendName | 'auto';
  debug: boolean;
  quiet: boolean;
  help: boolean;
  version: boolean;
  markdown: boolean;
  /** `report --all-variants`: every variant of a sweep in the value tables. */
  allVariants?: boolean;
  /** `report --html [FILE]`: the HTML report's path ('' for the default DIR/report.html). */
  html?: string;
  /** `run --no-report`: no HTML report at the end of the run. */
  noReport?: boolean;
  workers?: number;
  /** `run --in-process`: compute in this process, without a supervising parent. */
  inProcess?: boolean;
  groups?: number[];
  metrics?: string[];
  manifest?: string;
  /** `run --queue URL` (coordinate workers) and `worker --queue URL`. */
  queue?: string;
  /** `worker --concurrency N`: jobs at once. */
  concurrency?: number;
  /** `worker --stall-seconds S`: a job's lock duration and the stalled-job check interval. */
  stallSeconds?: number;
}

const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'];

function parseArgs(argv: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = { command: undefined, positional: [], debug: false, quiet: false, help: false, version: false, markdown: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`${arg} needs a value.`);
      return next;
    };
    if (arg === '--out' || arg === '-o') parsed.out = value();
    else if (arg.startsWith('--out=')) parsed.out = arg.slice(6);
    else if (arg === '--backend' || arg.startsWith('--backend=')) {
      const backend = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
      if (!BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got '${backend}'.`);
      parsed.backend = backend as BackendName | 'auto';
    } else if (arg === '--debug') parsed.debug = true;
    else if (arg === '--quiet' || arg === '-q') parsed.quiet = true;
    else if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg === '--version') parsed.version = true;
    else if (arg === '--markdown') parsed.markdown = true;
    else if (arg === '--all-variants') parsed.allVariants = true;
    else if (arg === '--no-report') parsed.noReport = true;
    else if (arg.startsWith('--html=')) parsed.html = arg.slice('--html='.length);
    else if (arg === '--html') parsed.html = /\.html?$/i.test(argv[i + 1] ?? '') ? argv[++i] : '';
    else if (arg === '--in-process') parsed.inProcess = true;
    else if (arg === '--manifest' || arg.startsWith('--manifest=')) parsed.manifest = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
    else if (arg === '--metrics' || arg.startsWith('--metrics=')) {
      const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
      parsed.metrics = text.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
    }
    else if (arg === '--workers' || arg.startsWith('--workers=')) {
      const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
      const workers = Number(text);
      if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers must be a positive integer, got '${text}'.`);
      parsed.workers = workers;
    } else if (arg === '--queue' || arg.startsWith('--queue=')) parsed.queue = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
    else if (arg === '--concurrency' || arg.startsWith('--concurrency=')) {
      const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
      const concurrency = Number(text);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a positive integer, got '${text}'.`);
      parsed.concurrency = concurrency;
    } else if (arg === '--stall-seconds' || arg.startsWith('--stall-seconds=')) {
      const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : value();
      const seconds = Number(text);
      if (!Number.isFinite(seconds) || seconds < 1) throw new UsageError(`--stall-seconds must be a number of seconds ≥ 1, got '${text}'.`);
      parsed.stallSeconds = seconds;
    } else if (arg === '--groups') {
      const text = value();
      if (!/^\d+(,\d+)*$/.test(text)) throw new UsageError('--groups must be a comma-separated list of group indices.');
      parsed.groups = text.split(',').map(Number);
    }
    else if (arg.startsWith('-')) throw new UsageError(`Unknown option '${arg}'. Run 'unlearn-bench --help' for the options.`);
    else if (parsed.command === undefined) parsed.command = arg;
    else parsed.positional.push(arg);
  }
  return parsed;
}

/** `process.exit` as it was before any run (the runner turns a plugin's call of it into an error). */
const exitProcess = process.exit.bind(process);

/** The shell's exit status for a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
function signalExitCode(signal: string): number {
  return 128 + (constants.signals[signal as NodeJS.Signals] ?? 0);
}

/** SIGINT and SIGTERM while a run is in progress. */
interface StopSignals {
  /** Aborted, with the signal's name as reason, at the first signal. */
  readonly signal: AbortSignal;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * Handles SIGINT and SIGTERM during a run: the first aborts `signal` (the run stops at its next
 * safe point) after `first` ran; each further one calls `again` (which stops at once).
 */
function watchStopSignals(first: (signal: NodeJS.Signals) => void, again: (signal: NodeJS.Signals) => void): StopSignals {
  const controller = new AbortController();
  const handler = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return again(signal);
    first(signal);
    controller.abort(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** The command that resumes a run (finished cells are skipped). */
function resumeCommand(manifest: string, outDir: string): string {
  const quote = (text: string) => (/^[A-Za-z0-9_./=:@-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);
  return `unlearn-bench run ${quote(manifest)} --out ${quote(outDir)}`;
}

/** What a stopped run says: what is saved, and how to resume. */
function stoppedMessage(signal: string, finished: number, total: number, manifest: string, outDir: string): string {
  return (
    `stopped (${signal}): ${finished} of ${total} cell(s) are finished and saved in ${join(outDir, 'results.db')} (and results.jsonl); ` +
    `the cells in progress were dropped, not stored. Resume with: ${resumeCommand(manifest, outDir)}\n`
  );
}

/** The `--out` folder as given, refusing an empty one or a path to a file. */
function outFolder(out: string | undefined): string | undefined {
  if (out === undefined) return undefined;
  if (out.trim() === '') throw new UsageError("--out needs a folder, got ''.");
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`--out '${out}' is a file, not a folder. Give a folder (it is created if missing).`);
  return out;
}

/**
 * A reader that stops reading (`run … | head -1`) is not an error: everything is saved before the
 * table is printed, so the rest of the output is dropped instead of crashing with EPIPE.
 */
function ignoreClosedPipe(sink: TextSink): void {
  const stream = sink as { on?: (event: 'error', listener: (error: NodeJS.ErrnoException) => void) => unknown };
  stream.on?.('error', (error) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/** One progress event as text: `label · epoch e/E · loss … · N ex/s · ETA m:ss`. */
function formatProgress(event: ProgressEvent): string {
  const parts = [event.label];
  if (event.epoch !== undefined) parts.push(`epoch ${event.epoch}/${event.epochs ?? '?'}`);
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toFixed(4)}`);
  if (event.examplesPerSecond !== undefined) parts.push(`${Math.round(event.examplesPerSecond)} ex/s`);
  if (event.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(event.etaSeconds)}`);
  return parts.join(' · ');
}

function createCliLogger(stderr: TextSink, options: { debug: boolean; quiet: boolean }): Logger {
  const write = (text: string) => stderr.write(`${text}\n`);
  return {
    info: (message) => {
      if (!options.quiet) write(message);
    },
    warn: (message) => write(`warning: ${message}`),
    debug: (message) => {
      if (options.debug) write(`debug: ${message}`);
    },
    progress: (event: ProgressEvent) => {
      if (!options.quiet) write(`  ${formatProgress(event)}`);
    },
  };
}

/**
 * In a worker whose parent draws live bars (UNLEARN_BENCH_PROGRESS=ipc), the cell-start lines and
 * progress steps go to the parent over IPC instead of stderr; warnings and other lines stay on stderr.
 */
function withProgressChannel(logger: Logger, args: ParsedArgs): Logger {
  if (!args.groups || process.env.UNLEARN_BENCH_PROGRESS !== 'ipc' || !process.send) return logger;
  const send = (message: ProgressMessage) => process.send?.(message);
  return {
    ...logger,
    info: (message) => {
      const cell = parseCellLine(message);
      if (cell) send(cell);
      else logger.info(message);
    },
    progress: (event) => send({ type: 'step', text: formatProgress(event) }),
  };
}

function requireManifestArg(args: ParsedArgs): string {
  const [manifest, ...extra] = args.positional;
  if (!manifest) throw new UsageError(`'${args.command}' needs a manifest path, e.g. 'unlearn-bench ${args.command} manifests/quickstart.json'.`);
  if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'.`);
  return manifest;
}

const KINDS: ContributionKind[] = ['dataset', 'model', 'attack', 'unlearner', 'metric'];

interface OptionRow {
  name: string;
  type: string;
  fallback: string;
  description: string;
}

function optionRows(schema: { properties: Readonly<Record<string, object>>; required?: readonly string[] }): OptionRow[] {
  return Object.entries(schema.properties).map(([name, raw]) => {
    const s = raw as { type?: string | string[]; default?: unknown; description?: string; enum?: unknown[] };
    const type = s.enum ? s.enum.map((v) => JSON.stringify(v)).join('|') : Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'any');
    return { name, type, fallback: 'default' in s ? JSON.stringify(s.default) : '(required)', description: s.description ?? '' };
  });
}

/** Markdown reference of every registered plugin (what `list --markdown` prints). */
export function pluginReference(registry: Registry): string {
  const lines = ['# Plugin reference', '', 'Generated by `unlearn-bench list --markdown`; do not edit by hand.', ''];
  for (const kind of KINDS) {
    lines.push(`## ${kind[0].toUpperCase()}${kind.slice(1)}s`, '');
    for (const entry of registry.list(kind)) {
      const requires = (entry.definition as { requires?: readonly string[] }).requires ?? [];
      const offers = (entry.definition as { capabilities?: readonly string[] }).capabilities ?? [];
      lines.push(`### \`${entry.key}\``, '', entry.definition.description, '');
      for (const paper of entry.definition.references ?? []) lines.push(`Paper: [${paper.title}](${paper.url}).`);
      lines.push(`Package: \`${entry.plugin.name}\`.`);
      if (isSummaryMetric(entry.definition)) lines.push(summaryNote(entry.key, true));
      if (requires.length > 0) lines.push(`Requires: ${requires.map((r) => `\`${r}\``).join(', ')}.`);
      if (offers.length > 0) lines.push(`Capabilities: ${offers.map((r) => `\`${r}\``).join(', ')}.`);
      lines.push('');
      const rows = optionRows(entry.definition.optionsSchema);
      if (rows.length === 0) lines.push('No options.', '');
      else {
        lines.push('| option | type | default | description |', '|---|---|---|---|');
        for (const row of rows) lines.push(`| \`${row.name}\` | ${row.type.replace(/\|/g, ' \\| ')} | \`${row.fallback}\` | ${row.description.replace(/\|/g, '\\|')} |`);
        lines.push('');
      }
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

const SUMMARY_NOTE_SHORT = 'computed once after the run from the other metrics over seeds';

/** How `list` describes a summary metric: when it runs, and whether it runs unlisted. */
function summaryNote(key: string, markdown: boolean): string {
  const unlisted = DEFAULT_SUMMARY_METRICS.includes(key) ? '; applied with its defaults when a manifest does not list it' : '';
  return markdown ? `Scope: summary metric, ${SUMMARY_NOTE_SHORT}${unlisted}.` : `scope: summary (${SUMMARY_NOTE_SHORT}${unlisted})`;
}

function listPlugins(registry: Registry, kindFilter: string | undefined): string {
  const kinds = KINDS;
  if (kindFilter !== undefined && !kinds.includes(kindFilter as ContributionKind)) {
    throw new UsageError(`Unknown kind '${kindFilter}'. Kinds: ${kinds.join(', ')}.`);
  }
  const lines: string[] = [];
  for (const kind of kinds.filter((k) => kindFilter === undefined || k === kindFilter)) {
    lines.push(`${kind}s:`);
    for (const entry of registry.list(kind)) {
      const requires = (entry.definition as { requires?: readonly string[] }).requires ?? [];
      const offers = (entry.definition as { capabilities?: readonly string[] }).capabilities ?? [];
      lines.push(`  ${entry.key}  ${entry.definition.description}`);
      if (isSummaryMetric(entry.definition)) lines.push(`      ${summaryNote(entry.key, false)}`);
      if (requires.length > 0) lines.push(`      requires: ${requires.join(', ')}`);
      if (offers.length > 0) lines.push(`      capabilities: ${offers.join(', ')}`);
      for (const row of optionRows(entry.definition.optionsSchema)) {
        const fallback = row.fallback === '(required)' ? ' (required)' : ` = ${row.fallback}`;
        lines.push(`      ${row.name}: ${row.type}${fallback}  ${row.description}`.trimEnd());
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** What `list --manifest` prints first: the plugins the manifest loads and what each adds. */
function manifestPluginsHeader(path: string, plugins: readonly Plugin[]): string {
  if (plugins.length === 0) return `${path} loads no plugins beyond the built-in ones.\n\n`;
  const lines = [`plugins loaded by ${path}:`];
  for (const plugin of plugins) {
    const kinds = (['attacks', 'unlearners', 'metrics', 'summaryMetrics', 'models', 'datasets'] as const).flatMap((field) => (plugin[field] ?? []).map((d) => `${plugin.meta.namespace}/${d.id}`));
    lines.push(`  ${plugin.meta.name} ${plugin.meta.version} (namespace ${plugin.meta.namespace}): ${kinds.join(', ') || 'no contributions'}`);
  }
  return `${lines.join('\n')}\n\n`;
}

function countFinishedCells(experiment: Experiment, backend: string, outDir: string): number {
  if (!existsSync(join(outDir, 'results.db'))) return 0;
  const store = new ResultsStore(outDir);
  try {
    return planCells(experiment, backend).reduce((n, g) => n + g.cells.filter((c) => store.hasCell(c)).length, 0);
  } finally {
    store.close();
  }
}

/** Plan indices of the groups with at least one unfinished cell in `outDir`. */
/** For each worker's groups (plan indices), how many of their cells are not in the store in `outDir` yet. */
function unfinishedCellsOf(experiment: Experiment, backend: string, outDir: string, assignments: readonly (readonly number[])[]): number[] {
  const plan = planCells(experiment, backend);
  const store = existsSync(join(outDir, 'results.db')) ? new ResultsStore(outDir) : undefined;
  try {
    return assignments.map((groups) => groups.reduce((n, i) => n + plan[i].cells.filter((c) => !store?.hasCell(c)).length, 0));
  } finally {
    store?.close();
  }
}

function pendingGroupIndices(experiment: Experiment, backend: string, outDir: string): number[] {
  const groups = planCells(experiment, backend);
  if (!existsSync(join(outDir, 'results.db'))) return groups.map((_, i) => i);
  const store = new ResultsStore(outDir);
  try {
    return groups.flatMap((g, i) => (g.cells.some((c) => !store.hasCell(c)) ? [i] : []));
  } finally {
    store.close();
  }
}

/**
 * The summary metrics for `report <dir>`: those the run's manifest (DIR/run.json) lists, with its
 * options, then the defaults. Entries from plugins not loaded here are skipped with a warning.
 */
function reportSummaries(dir: string, registry: Registry, stderr: TextSink): SummarySelection[] {
  const path = join(dir, 'run.json');
  let refs: MetricRefLike[] = [];
  let selection: SelectionRule | undefined;
  if (existsSync(path)) {
    const manifest = (JSON.parse(readFileSync(path, 'utf8')) as { manifest?: { metrics?: MetricRefLike[]; selection?: SelectionRule } }).manifest;
    refs = manifest?.metrics ?? [];
    selection = manifest?.selection;
  }
  for (const ref of refs) {
    if (!registry.has('metric', ref.use)) stderr.write(`warning: ${ref.use} (in ${path}) is not a built-in metric; if it is a summary metric, its table is left out.\n`);
  }
  return selectSummaryMetrics(refs, registry, path, selection);
}

/** Prints the summary table and totals; returns the exit code (1 if any cell failed). */
function report(
  host: CliHost,
  records: readonly ResultRecord[],
  computed: number,
  skipped: number,
  failures: readonly { cell: string; message: string }[],
  seconds: number,
  resultsPath: string,
  databasePath: string,
  summaries: readonly SummarySelection[],
  failuresPrinted = false,
  htmlReport = false,
): number {
  host.stdout.write(`\n${formatSummary(records, { summaries })}\n\n`);
  host.stdout.write(
    `${computed} cell(s) computed, ${skipped} skipped (finished earlier), ${failures.length} failed, in ${formatDuration(seconds)}.\n` +
      `Results: ${resultsPath} and ${databasePath}\n`,
  );
  if (htmlReport && records.length > 0) {
    // The results are saved whatever happens here: a report that cannot be written is a warning.
    try {
      host.stdout.write(`HTML report: ${writeHtmlReport(dirname(databasePath), summaries)}\n`);
    } catch (error) {
      host.stderr.write(`warning: the HTML report was not written (${(error as Error).message}); 'unlearn-bench report ${dirname(databasePath)} --html' retries it.\n`);
    }
  }
  if (failures.length === 0) return 0;
  if (!failuresPrinted) for (const failure of failures) host.stderr.write(`failed: ${failure.cell}: ${failure.message}\n`);
  return 1;
}

/**
 * `run <manifest> --queue URL`: coordinates the run over queue workers (queue/coordinator.ts),
 * then prints the table and totals as a local run does. Ctrl-C stops the run (the workers stop at
 * their next safe point and their finished cells are stored); a second one exits at once.
 */
async function coordinate(host: CliHost, args: ParsedArgs, path: string, experiment: Experiment, engine: EngineInfo, root: ReturnType<typeof createRootContainer>, outDir: string): Promise<number> {
  if (args.workers !== undefined) throw new UsageError('--workers and --queue exclude each other: with --queue the workers are `unlearn-bench worker` processes, started on any machine.');
  const { parseQueueUrl } = await import('../queue/connection.ts');
  const { coordinateQueue } = await import('../queue/coordinator.ts');
  const queue = parseQueueUrl(args.queue!);
  for (const warning of experiment.warnings) host.stderr.write(`warning: ${path}: ${warning.path}: ${warning.message}\n`);
  const stops = watchStopSignals(
    (signal) => host.stderr.write(`\n${signal} received: removing the run's waiting jobs and asking its workers to stop at their next safe point; finished cells are kept. ${signal === 'SIGINT' ? 'Press Ctrl-C again' : 'Send it again'} to stop at once.\n`),
    (signal) => {
      host.stderr.write(`${signal} again: stopping at once. The cells stored so far are in ${outDir}; the jobs still running finish on their workers and the next run collects them: ${resumeCommand(path, outDir)} --queue ${queue.shown}\n`);
      exitProcess(signalExitCode(signal));
    },
  );
  try {
    const summary = await coordinateQueue({
      queue,
      experiment,
      manifestPath: path,
      engine,
      registry: root.resolve<Registry>(REGISTRY),
      runner: root.resolve(Runner),
      version: host.version,
      outDir,
      stderr: host.stderr,
      live: wantsLiveProgress(host.stderr, args),
      quiet: args.quiet,
      stop: stops.signal,
    });
    if (summary.stopped) {
      host.stderr.write(stoppedMessage(summary.stopped, summary.cellsComputed + summary.cellsSkipped, summary.cellsTotal, path, outDir).replace(/\n$/, ` --queue ${queue.shown}\n`));
      return signalExitCode(summary.stopped);
    }
    return report(host, summary.records, summary.cellsComputed, summary.cellsSkipped, summary.failures, summary.seconds, summary.resultsPath, summary.databasePath, summary.summaries, true, !args.noReport);
  } finally {
    stops.dispose();
  }
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], host: CliHost): Promise<number> {
  let debug = argv.includes('--debug');
  ignoreClosedPipe(host.stdout);
  try {
    const args = parseArgs(argv);
    debug = args.debug;
    if (args.version) {
      host.stdout.write(`${host.version}\n`);
      return 0;
    }
    if (args.help || args.command === undefined || args.command === 'help') {
      host.stdout.write(`${USAGE}\n`);
      return args.command === undefined && !args.help ? 2 : 0;
    }
    const logger = withProgressChannel(createCliLogger(host.stderr, args), args);
    switch (args.command) {
      case 'validate': {
        const path = requireManifestArg(args);
        const plugins = [...host.plugins, ...(await loadManifestPlugins(path, logger.warn))];
        const experiment = loadManifest(path, buildRegistry(plugins, host.plugins));
        for (const warning of experiment.warnings) logger.warn(`${path}: ${warning.path}: ${warning.message}`);
        const groups = experiment.seeds.length * experiment.attacks.length;
        host.stdout.write(`${path}: valid (${experiment.name}; ${groups} seed × attack group(s), manifest hash ${experiment.hash.slice(0, 12)})\n`);
        return 0;
      }
      case 'list': {
        if (args.positional.length > 1) throw new UsageError(`Unexpected argument '${args.positional[1]}'.`);
        if (args.manifest !== undefined && !existsSync(args.manifest)) throw new UsageError(`--manifest: no file '${args.manifest}'.`);
        const loaded = args.manifest === undefined ? [] : await loadManifestPlugins(args.manifest, logger.warn);
        const registry = buildRegistry([...host.plugins, ...loaded], host.plugins);
        if (args.manifest !== undefined && !args.markdown) host.stdout.write(manifestPluginsHeader(args.manifest, loaded));
        host.stdout.write(args.markdown ? pluginReference(registry) : listPlugins(registry, args.positional[0]));
        return 0;
      }
      case 'worker': {
        if (args.positional.length > 0) throw new UsageError(`Unexpected argument '${args.positional[0]}'. Usage: unlearn-bench worker --queue redis://HOST:PORT [--concurrency N]`);
        if (args.queue === undefined) throw new UsageError("'worker' needs --queue redis://HOST:PORT (the Redis server the coordinator, 'unlearn-bench run <manifest> --queue …', uses).");
        const runOnly = [args.out !== undefined && '--out', args.backend !== undefined && '--backend', args.workers !== undefined && '--workers'].filter(Boolean);
        if (runOnly.length > 0) throw new UsageError(`'worker' takes no ${runOnly.join(', ')}: each job names its manifest, backend and output (the coordinator's). Options: --queue, --concurrency, --stall-seconds.`);
        const { parseQueueUrl } = await import('../queue/connection.ts');
        const { runQueueWorker } = await import('../queue/worker.ts');
        return await runQueueWorker({ queue: parseQueueUrl(args.queue), concurrency: args.concurrency ?? 1, stallSeconds: args.stallSeconds ?? 30, host, logger, debug: args.debug, quiet: args.quiet });
      }
      case 'run': {
        const path = requireManifestArg(args);
        // A queue worker's compute process (see queue/worker.ts) gets the manifest's text in a
        // scratch folder, with its relative paths resolving against the coordinator's manifest
        // folder as the worker sees it, and the cells of its group still to compute.
        const baseDir = args.groups ? process.env.UNLEARN_BENCH_MANIFEST_DIR : undefined;
        const plugins = [...host.plugins, ...(await loadManifestPlugins(path, logger.warn, baseDir))];
        const registry = buildRegistry(plugins, host.plugins);
        const experiment = loadManifest(path, registry, baseDir);
        const engine = await host.createEngine(args.backend ?? experiment.backend);
        const root = createRootContainer({ plugins, registry, engine, logger });
        const outDir = resolve(outFolder(args.out) ?? `runs/${experiment.name}`);
        if (!args.groups) for (const warning of experiment.warnings) logger.warn(`${path}: ${warning.path}: ${warning.message}`);
        if (args.groups) {
          // A worker of a parent run: compute these groups' cells; the parent prints the table.
          // Stop if the parent goes away (even by SIGKILL), so no orphan keeps writing.
          process.on('disconnect', () => exitProcess(130));
          process.channel?.unref(); // the channel alone must not keep the worker alive
          // Between cells the runner yields (the disconnect handler runs); within a cell, at every
          // training epoch, it calls this checkpoint: a parent that died has left this process to init.
          const parentPid = Number(process.env.UNLEARN_BENCH_PARENT_PID) || process.ppid;
          // SIGINT/SIGTERM (a Ctrl-C reaches the whole process group) or the parent's stop file:
          // stop at the next safe point. Stopping at once is the parent's to decide (it kills us).
          const stop = new AbortController();
          const onSignal = (signal: NodeJS.Signals) => stop.abort(signal);
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          const stopFile = process.env.UNLEARN_BENCH_STOP_FILE;
          const checkStopFile = () => {
            if (stop.signal.aborted || !stopFile || !existsSync(stopFile)) return;
            stop.abort(readFileSync(stopFile, 'utf8').trim() || 'SIGTERM');
          };
          const poll = setInterval(checkStopFile, 200); // while the runner waits on a plugin
          poll.unref();
          const checkpoint = () => {
            checkStopFile();
            if (process.ppid === parentPid) return;
            host.stderr.write(`the parent run (process ${parentPid}) is gone; this worker stops (its finished cells are saved)\n`);
            exitProcess(130);
          };
          try {
            // The parent watches each cell's time (see runWorkers) and names the cells it killed a
            // previous worker for, which this one records as failed instead of running again.
            const onCell = (event: CellEvent) => process.send?.(event);
            const failCells = new Map<string, string>(JSON.parse(process.env.UNLEARN_BENCH_FAIL_CELLS ?? '[]') as [string, string][]);
            const cellsFile = process.env.UNLEARN_BENCH_CELLS_FILE;
            const cells = cellsFile ? new Set(JSON.parse(readFileSync(cellsFile, 'utf8')) as string[]) : undefined;
            const summary = await root.resolve(Runner).run(experiment, { outDir, groups: args.groups, checkpoint, signal: stop.signal, onCell, failCells, cells });
            for (const failure of summary.failures) host.stderr.write(`failed: ${failure.cell}: ${failure.message}\n`);
            if (summary.stopped) return endDespiteGivenUpWork(host, summary.gaveUp, signalExitCode(summary.stopped));
            return endDespiteGivenUpWork(host, summary.gaveUp, summary.failures.length > 0 ? 1 : 0);
          } finally {
            clearInterval(poll);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          }
        }
        if (args.queue !== undefined) return await coordinate(host, args, path, experiment, engine, root, outDir);
        if (args.concurrency !== undefined || args.stallSeconds !== undefined) {
          throw new UsageError(`${args.concurrency !== undefined ? '--concurrency' : '--stall-seconds'} is an option of 'worker' (with --queue); a local run takes --workers N.`);
        }
        const pending = pendingGroupIndices(experiment, engineKey(engine), outDir);
        const workers = Math.min(args.workers ?? availableParallelism(), pending.length);
        // One worker still runs in a child process when this CLI owns its process: only a parent
        // can stop a plugin hook that never returns to the event loop (its cell timeout, Ctrl-C).
        // Embedded callers (tests, libraries) and --in-process compute here.
        const supervise = host.ownsProcess === true && !args.inProcess && process.env.UNLEARN_BENCH_IN_PROCESS !== '1';
        if (workers === 0 || (workers === 1 && !supervise)) {
          const stops = watchStopSignals(
            (signal) => host.stderr.write(`\n${signal} received: stopping at the next safe point; finished cells are kept. ${signal === 'SIGINT' ? 'Press Ctrl-C again' : 'Send it again'} to stop at once.\n`),
            (signal) => {
              host.stderr.write(`${signal} again: stopping at once. The cells finished so far are saved in ${outDir}; resume with: ${resumeCommand(path, outDir)}\n`);
              exitProcess(signalExitCode(signal));
            },
          );
          try {
            const summary = await root.resolve(Runner).run(experiment, { outDir, signal: stops.signal });
            if (summary.stopped) {
              host.stderr.write(stoppedMessage(summary.stopped, summary.cellsComputed + summary.cellsSkipped, summary.cellsTotal, path, outDir));
              return endDespiteGivenUpWork(host, summary.gaveUp, signalExitCode(summary.stopped));
            }
            const code = report(host, summary.records, summary.cellsComputed, summary.cellsSkipped, summary.failures, summary.seconds, summary.resultsPath, summary.databasePath, summary.summaries, false, !args.noReport);
            return endDespiteGivenUpWork(host, summary.gaveUp, code);
          } finally {
            stops.dispose();
          }
        }
        const start = performance.now();
        const finishedBefore = countFinishedCells(experiment, engineKey(engine), outDir);
        logger.info(`backend: ${engine.backend} (${engine.reason})`);
        logger.info(
          workers === 1
            ? `${experiment.name}: ${pending.length} unfinished seed × attack group(s) in one supervised worker process; output in ${outDir}`
            : `${experiment.name}: ${pending.length} unfinished seed × attack group(s) over ${workers} worker processes; output in ${outDir}`,
        );
        if (finishedBefore > 0) logger.info(`${finishedBefore} cell(s) already finished in ${outDir}; skipping them`);
        new ResultsStore(outDir).close(); // create the database once, before the workers share it
        const lock = lockFolder(outDir); // the workers run under the parent's lock
        // The export whole, under the lock: the workers append their cells to it.
        try {
          const store = new ResultsStore(outDir);
          rewriteExportAtStart(store, logger);
          store.close();
        } catch (error) {
          lock.release();
          throw error;
        }
        const stopFile = join(outDir, 'run.stop');
        rmSync(stopFile, { force: true }); // one left by a run that was killed must not stop this one
        const killNow = new AbortController();
        const stops = watchStopSignals(
          (signal) => {
            const asking = workers === 1 ? 'stopping at the next safe point' : 'asking the workers to stop at their next safe point';
            host.stderr.write(`\n${signal} received: ${asking}; finished cells are kept. ${signal === 'SIGINT' ? 'Press Ctrl-C again' : 'Send it again'} to stop at once.\n`);
            writeFileSync(stopFile, `${signal}\n`);
          },
          (signal) => {
            killNow.abort(signal);
            host.stderr.write(`${signal} again: ${workers === 1 ? 'stopping' : 'stopped the workers'} at once. The cells finished so far are saved in ${outDir}; resume with: ${resumeCommand(path, outDir)}\n`);
            rmSync(stopFile, { force: true });
            lock.release();
            exitProcess(signalExitCode(signal));
          },
        );
        const cleanUp = () => {
          stops.dispose();
          rmSync(stopFile, { force: true });
        };
        if (experiment.model.definition.createFeaturizer) {
          logger.info(`featurizing the texts once with ${experiment.model.use} before starting the workers (they read its cache)`);
          await root.resolve(Runner).prepare(experiment).catch((error: unknown) => {
            cleanUp();
            lock.release();
            throw error;
          });
        }
        root.resolve(Runner).writeRunInfo(experiment, outDir); // once, here: workers do not write it
        // Round-robin over the unfinished groups only, fixed here so no group is left out.
        const assignments = Array.from({ length: workers }, (_, w) => pending.filter((_, j) => j % workers === w));
        // On a terminal: bars per worker that update in place (see progress.ts); else a line per event.
        const live = wantsLiveProgress(host.stderr, args) ? new LiveProgress(unfinishedCellsOf(experiment, engineKey(engine), outDir, assignments), process.stderr) : undefined;
        // A stop requested before the workers start (while featurizing) starts none.
        const exits = stops.signal.aborted
          ? []
          : await runWorkers(
              {
                binPath: host.binPath,
                manifestPath: resolve(path),
                outDir,
                backend: engine.backend,
                assignments,
                debug: args.debug,
                quiet: args.quiet,
                standby: host.standby,
              },
              live ? { write: (text: string) => live.log(text.replace(/\n$/, '')) } : host.stderr,
              { stop: stops.signal, kill: killNow.signal, stopFile },
              live,
            ).finally(() => {
              live?.stop();
              cleanUp();
            });
        if (exits.length === 0) cleanUp();
        const store = new ResultsStore(outDir);
        try {
          if (stops.signal.aborted) {
            const cells = planCells(experiment, engineKey(engine)).flatMap((g) => g.cells);
            store.exportJsonl();
            const stopped = String(stops.signal.reason);
            host.stderr.write(stoppedMessage(stopped, cells.filter((c) => store.hasCell(c)).length, cells.length, path, outDir));
            return signalExitCode(stopped);
          }
          const plan = planCells(experiment, engineKey(engine));
          const cells = plan.flatMap((g) => g.cells);
          const codes = exits.map((e) => e.code);
          const failedIn = (groupKey: string) => {
            const w = assignments.findIndex((groups) => groups.some((i) => plan[i].key === groupKey));
            const signal = exits[w]?.signal;
            return signal ? `worker ${w + 1} was killed (${signal}) before finishing it; rerun to finish it` : 'failed in a worker (see its messages above)';
          };
          const keys = new Set(cells.filter((c) => store.hasCell(c)).map((c) => c.key));
          const records = store.records().filter((r) => keys.has(r.cell));
          const finished = keys.size;
          const failures = cells.filter((c) => !keys.has(c.key)).map((c) => ({ cell: c.key, message: failedIn(c.groupKey) }));
          // The workers printed their own failures; a killed worker could not.
          for (const f of failures) if (f.message.startsWith('worker ')) host.stderr.write(`failed: ${f.cell}: ${f.message}\n`);
          const resultsPath = store.exportJsonl();
          const summaries = selectSummaryMetrics(experiment.metrics, root.resolve<Registry>(REGISTRY), experiment.name, experiment.selection);
          writeSummaryJsonl(outDir, records, summaries);
          const seconds = (performance.now() - start) / 1000;
          const code = report(host, records, finished - finishedBefore, finishedBefore, failures, seconds, resultsPath, join(outDir, 'results.db'), summaries, true, !args.noReport);
          return codes.some((c) => c === 2) ? 2 : Math.max(code, codes.some((c) => c !== 0) ? 1 : 0);
        } finally {
          store.close();
          lock.release();
        }
      }
      case 'report': {
        const [dir, ...extra] = args.positional;
        if (!dir || extra.length > 0) throw new UsageError('Usage: unlearn-bench report <DIR> [--metrics a,b,...] [--markdown]');
        if (!existsSync(join(dir, 'results.db'))) throw new UsageError(`No results in '${dir}' (no results.db). Give the --out folder of a run.`);
        const store = new ResultsStore(dir, { readonly: true }); // writes nothing: a read-only folder works
        try {
          const records = store.records();
          const failed = store.unfinishedFailures();
          for (const failure of failed) host.stderr.write(`failed (not finished): ${failure.cell}: ${failure.message}\n`);
          if (records.length === 0) throw new UsageError(`No finished cell in '${dir}'${failed.length > 0 ? ` (${failed.length} failed, listed above)` : ''}. Run its manifest with --out ${dir} to compute them.`);
          const unknown = (args.metrics ?? []).filter((m) => !records.some((r) => r.metric === m));
          if (unknown.length > 0) throw new UsageError(`No metric ${unknown.map((m) => `'${m}'`).join(', ')} in '${dir}'. Present: ${[...new Set(records.map((r) => r.metric))].join(', ')}.`);
          const summaries = reportSummaries(dir, buildRegistry(host.plugins, host.plugins), host.stderr);
          if (args.html !== undefined) {
            host.stdout.write(`HTML report: ${writeHtmlReport(dir, summaries, args.html === '' ? undefined : args.html)}\n`);
            return 0;
          }
          host.stdout.write(`${formatSummary(records, { metrics: args.metrics, markdown: args.markdown, summaries, allVariants: args.allVariants === true })}\n`);
        } finally {
          store.close();
        }
        return 0;
      }
      case 'repair': {
        const [dir, ...extra] = args.positional;
        if (!dir || extra.length > 0) throw new UsageError('Usage: unlearn-bench repair <DIR>');
        if (!existsSync(join(dir, 'results.jsonl'))) throw new UsageError(`No results.jsonl in '${dir}' to rebuild the store from. Give the --out folder of a run.`);
        const lock = lockFolder(dir); // no run may write the store while it is replaced
        try {
          const rebuilt = ResultsStore.rebuild(dir);
          host.stdout.write(
            `Rebuilt '${join(dir, 'results.db')}' from results.jsonl: ${rebuilt.cells} finished cell(s).` +
              (rebuilt.movedAside ? ` The old database is kept as '${rebuilt.movedAside}'.` : '') +
              (rebuilt.withoutVersions > 0 ? ` ${rebuilt.withoutVersions} cell(s) were exported without their plugin versions (by an earlier version): report shows them, the next run recomputes them.` : '') +
              (rebuilt.tornLastLine ? ' The file\'s last line was cut short (a crash while a cell was being appended) and was left out with the cell before it: the next run recomputes them.' : '') +
              ` Cached models are not in results.jsonl: the next run retrains those its unfinished cells need.\n`,
          );
        } finally {
          lock.release();
        }
        return 0;
      }
      case 'new-plugin': {
        const [kind, name, ...extra] = args.positional;
        if (!kind || !name || extra.length > 0) throw new UsageError('Usage: unlearn-bench new-plugin <unlearner|metric|attack> <name> [--out DIR]');
        const dir = scaffoldPlugin(kind, name, args.out ?? '.');
        host.stdout.write(
          `Created ${dir}\nNext: cd into it and install core and the CLI: 'npm install' once @unlearn-bench/core is on npm; until then, from a checkout, as docs/PLUGINS.md §1 says ('npm install -D <checkout tarballs>'). Then 'npm test', and name it in a manifest's "plugins".\n`,
        );
        return 0;
      }
      default:
        throw new UsageError(`Unknown command '${args.command}'. Commands: run, worker, validate, list, report, repair, new-plugin. Run 'unlearn-bench --help'.`);
    }
  } catch (error) {
    const inputError =
      error instanceof InvalidManifestError ||
      error instanceof UsageError ||
      error instanceof EngineError ||
      (error instanceof UnlearnBenchError && ['UB_UNKNOWN_PLUGIN', 'UB_INVALID_PLUGIN', 'UB_DUPLICATE_PLUGIN', 'UB_FOLDER_LOCKED', 'UB_QUEUE_UNREACHABLE'].includes(error.code));
    const message = error instanceof Error ? error.message : String(error);
    host.stderr.write(`error: ${message}\n`);
    if (debug && error instanceof Error && error.stack) host.stderr.write(`${error.stack}\n`);
    else if (!(error instanceof UnlearnBenchError)) host.stderr.write('(run with --debug for the stack trace)\n');
    return inputError ? 2 : 1;
  }
}
