/**
 * Manifest loading and two-stage validation: (1) the structure against
 * `schema/experiment.schema.json`; (2) every `use` against the registry, every `options` against its
 * plugin's own schema (defaults filled in), and every `requires` against the model's capabilities.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { InvalidManifestError, UnknownPluginError, type ManifestIssue } from '../errors.ts';
import type { BackendName } from '../engine.ts';
import type { Capability } from '../model.ts';
import { formatAjvErrors, getOrCreateValidator } from '../plugin/ajv.ts';
import type { DefinitionOf, Registry, RegistryEntry } from '../plugin/registry.ts';
import type { ContributionKind, TrainingRecipe } from '../plugin/types.ts';
import { trainingRecipeIssues } from '../optimizers.ts';
import { parseJson } from './parse-json.ts';
import { experimentSchema } from './schema.ts';

/** A manifest entry `{ use, label?, options? }` as written. */
export interface PluginRef {
  use: string;
  label?: string;
  options?: Record<string, unknown>;
}

/** An unlearner entry as written: a plugin entry, optionally with a hyper-parameter grid. */
export interface UnlearnerRef extends PluginRef {
  /** Option name → values; the entry expands to the Cartesian product (see `expandSweep`). */
  sweep?: Record<string, unknown[]>;
}

/** Most variants one sweep may expand to (a typo like a 1,000-value list should not start a week of runs). */
export const MAX_SWEEP_VARIANTS = 200;

/** One variant of a swept unlearner entry: its label, options, and where it comes from. */
export interface SweepVariant {
  readonly ref: PluginRef;
  /** The entry's own label (without the values) and the grid values of this variant. */
  readonly variant: { readonly of: string; readonly values: Readonly<Record<string, unknown>> };
}

/** `0.01`, `true`, `"sgd"` → `0.01`, `true`, `sgd`; objects and arrays as compact JSON. */
function formatSweepValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The variants of a swept entry: the Cartesian product of its `sweep` lists, in the order the keys
 * and values are written, each labelled `<label>[k1=v1,k2=v2]` with the values overriding `options`.
 */
export function expandSweep(ref: UnlearnerRef): SweepVariant[] {
  const base = ref.label ?? (ref.use.startsWith('core/') ? ref.use.slice('core/'.length) : ref.use);
  const keys = Object.keys(ref.sweep ?? {});
  let combos: Record<string, unknown>[] = [{}];
  for (const key of keys) combos = combos.flatMap((combo) => ref.sweep![key].map((value) => ({ ...combo, [key]: value })));
  return combos.map((values) => ({
    ref: { use: ref.use, label: `${base}[${keys.map((k) => `${k}=${formatSweepValue(values[k])}`).join(',')}]`, options: { ...(ref.options ?? {}), ...structuredClone(values) } },
    variant: { of: base, values },
  }));
}

/** The manifest as written (after structural validation and schema defaults). */
export interface Manifest {
  $schema?: string;
  name: string;
  description?: string;
  plugins: string[];
  seeds: number[];
  backend: BackendName | 'auto';
  dataset: PluginRef;
  model: PluginRef;
  training: TrainingRecipe;
  attacks: PluginRef[];
  unlearners: UnlearnerRef[];
  budgets: number[];
  metrics: PluginRef[];
  selection?: SelectionRule;
  /** Seconds one cell's plugin calls may take (see Experiment.cellTimeout). @default 3600 */
  cellTimeout: number;
}

/** How the verdict tables pick one variant of each swept unlearner per budget (manifest `selection`). */
export interface SelectionRule {
  readonly rule: 'none' | 'oracle' | 'utility';
  /** oracle: the stored metric key to bring closest to retraining. */
  readonly metric?: string;
  /** oracle: how far below the poisoned model's validation accuracy a variant may be. @default 0.01 */
  readonly maxAccuracyDrop: number;
  /** The stored key of validation accuracy. @default 'accuracy:validation' */
  readonly validationMetric: string;
}

/** A manifest entry resolved to its registered definition, with options defaulted and validated. */
export interface ResolvedRef<K extends ContributionKind> {
  readonly use: string;
  readonly label: string;
  readonly entry: RegistryEntry<K>;
  readonly definition: DefinitionOf[K];
  readonly options: Readonly<Record<string, unknown>>;
  /** For one variant of a swept unlearner entry: the entry's label and this variant's grid values. */
  readonly variant?: SweepVariant['variant'];
}

/** A fully validated experiment, ready to run. */
export interface Experiment {
  readonly name: string;
  readonly description: string;
  /** Plugin specifiers the manifest names (loaded before validation by `loadManifestPlugins`). */
  readonly plugins: readonly string[];
  readonly seeds: readonly number[];
  readonly backend: BackendName | 'auto';
  readonly dataset: ResolvedRef<'dataset'>;
  readonly model: ResolvedRef<'model'>;
  readonly training: TrainingRecipe;
  readonly attacks: readonly ResolvedRef<'attack'>[];
  readonly unlearners: readonly ResolvedRef<'unlearner'>[];
  readonly budgets: readonly number[];
  readonly metrics: readonly ResolvedRef<'metric'>[];
  /** The rule that picks one variant of each swept unlearner for the verdicts, if the manifest has one. */
  readonly selection?: SelectionRule;
  /**
   * Seconds a cell's plugin calls may take in all (the unlearner's create and unlearn, the metrics
   * on its model), and each call that prepares a group (dataset load, the attack's poison); a call
   * still unsettled then fails its cell (or group) and the run goes on. Not in `hash`: it changes no
   * result.
   */
  readonly cellTimeout: number;
  /** Problems that do not stop a run, e.g. a budget too small to buy one training step. */
  readonly warnings: readonly ManifestIssue[];
  /** sha256 of the resolved manifest (defaults filled in), canonical JSON. */
  readonly hash: string;
  /** The resolved manifest as plain JSON (what `hash` covers). */
  readonly resolved: Readonly<Record<string, unknown>>;
  /**
   * The manifest file's folder: relative paths in plugin options are relative to it (plugins read
   * it as `ctx.baseDir`). Undefined for a manifest not read from a file (the working directory).
   */
  readonly baseDir?: string;
}

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 hex of the canonical JSON of `value`. */
export function hashJson(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * Reads and validates a manifest file; relative paths in it resolve against `baseDir` (default: its
 * folder). Throws InvalidManifestError listing every problem.
 */
export function loadManifest(path: string, registry: Registry, baseDir = dirname(resolvePath(path))): Experiment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new InvalidManifestError(path, [{ path: '', message: code === 'ENOENT' ? 'file not found.' : `cannot read the file (${code ?? (error as Error).message}).` }]);
  }
  return parseManifest(text, registry, path, baseDir);
}

/** Validates manifest text; `source` names it in errors, `baseDir` is its folder (see Experiment.baseDir). */
export function parseManifest(text: string, registry: Registry, source = 'manifest', baseDir?: string): Experiment {
  const parsed = parseJson(text);
  if (!parsed.ok) throw new InvalidManifestError(source, [parsed.issue]);
  return validateManifest(parsed.value, registry, source, baseDir);
}

/** Validates a manifest value (already parsed JSON). */
export function validateManifest(value: unknown, registry: Registry, source = 'manifest', baseDir?: string): Experiment {
  const data = structuredClone(value);
  const validate = getOrCreateValidator(experimentSchema);
  if (!validate(data)) throw new InvalidManifestError(source, formatAjvErrors(validate.errors ?? [], data));
  const manifest = data as Manifest;
  const issues: ManifestIssue[] = [];

  const resolve = <K extends ContributionKind>(kind: K, ref: PluginRef, path: string): ResolvedRef<K> | undefined => {
    let entry: RegistryEntry<K>;
    try {
      entry = registry.get(kind, ref.use);
    } catch (error) {
      if (error instanceof UnknownPluginError) {
        issues.push({ path: `${path}.use`, message: error.message });
        return undefined;
      }
      throw error;
    }
    const options = structuredClone(ref.options ?? {});
    const validateOptions = getOrCreateValidator(entry.definition.optionsSchema);
    if (!validateOptions(options)) {
      issues.push(...formatAjvErrors(validateOptions.errors ?? [], options, `${path}.options`));
      return undefined;
    }
    const label = ref.label ?? (ref.use.startsWith('core/') ? ref.use.slice('core/'.length) : ref.use);
    return { use: ref.use, label, entry, definition: entry.definition, options };
  };

  // A swept entry becomes one resolved unlearner per grid point, each validated like an entry.
  const resolveUnlearner = (ref: UnlearnerRef, i: number): (ResolvedRef<'unlearner'> | undefined)[] => {
    const path = `unlearners[${i}]`;
    if (!ref.sweep) return [resolve('unlearner', ref, path)];
    const variants = Object.values(ref.sweep).reduce((n, values) => n * values.length, 1);
    if (variants > MAX_SWEEP_VARIANTS) {
      issues.push({ path: `${path}.sweep`, message: `expands to ${variants} variants, more than ${MAX_SWEEP_VARIANTS}. Sweep fewer values, or split the grid over several entries.` });
      return [];
    }
    const head = resolve('unlearner', { use: ref.use, label: ref.label, options: ref.options }, path);
    if (!head) return [undefined];
    if (head.definition.reference || head.definition.budget === 'unlimited') {
      issues.push({ path: `${path}.sweep`, message: `${ref.use} is a reference row, not a method: it has nothing to sweep.` });
      return [];
    }
    return expandSweep(ref).map(({ ref: variantRef, variant }) => {
      const resolved = resolve('unlearner', variantRef, `${path} (sweep variant ${variantRef.label})`);
      return resolved && { ...resolved, variant };
    });
  };
  const dataset = resolve('dataset', manifest.dataset, 'dataset');
  const model = resolve('model', manifest.model, 'model');
  const attacks = manifest.attacks.map((ref, i) => resolve('attack', ref, `attacks[${i}]`));
  const unlearnerEntries = manifest.unlearners.flatMap((ref, i) => resolveUnlearner(ref, i).map((resolved) => ({ resolved, path: `unlearners[${i}]` })));
  const unlearners = unlearnerEntries.map((e) => e.resolved);
  const unlearnerPaths = unlearnerEntries.map((e) => e.path);
  const metrics = manifest.metrics.map((ref, i) => resolve('metric', ref, `metrics[${i}]`));

  checkUniqueLabels(attacks, 'attacks', issues);
  checkUniqueLabels(unlearners, 'unlearners', issues, unlearnerPaths);
  checkUniqueLabels(metrics, 'metrics', issues);
  checkReferenceLabels(unlearners, issues, unlearnerPaths);
  checkBudgetLabels(manifest.budgets, issues);
  if (manifest.selection?.rule === 'oracle' && !manifest.selection.metric) {
    issues.push({ path: 'selection.metric', message: "the oracle rule needs the poison metric to bring closest to retraining, e.g. \"metric\": \"gus\"." });
  }
  // Optimizer fields left out stay out of the resolved training (and its hashes): absent means the
  // default (sgd, coupled L2, constant rate), so manifests written before they existed keep their keys.
  for (const issue of trainingRecipeIssues(manifest.training)) issues.push({ path: `training.${issue.path}`, message: issue.message });

  if (model && dataset) {
    const text = (dataset.definition.modality ?? 'tensor') === 'text';
    const reads = model.definition.createFeaturizer ? 'text' : 'tensor';
    if (text && reads !== 'text') {
      issues.push({ path: 'model.use', message: `dataset ${dataset.use} gives texts, but model ${model.use} reads tensors. Use a text model (one with a featurizer, e.g. core/text-bow).` });
    } else if (!text && reads === 'text') {
      issues.push({ path: 'model.use', message: `model ${model.use} reads texts, but dataset ${dataset.use} gives tensors. Use a text dataset or another model.` });
    }
  }

  if (model) {
    const offered = new Set<Capability>(model.definition.capabilities);
    const check = (refs: readonly (ResolvedRef<'attack' | 'unlearner' | 'metric'> | undefined)[], field: string, paths?: readonly string[]) =>
      refs.forEach((ref, i) => {
        const missing = (ref?.definition.requires ?? []).filter((c) => !offered.has(c));
        if (ref && missing.length > 0 && !(ref.variant && refs.some((r, j) => j < i && r?.variant?.of === ref.variant!.of))) {
          issues.push({
            path: `${paths?.[i] ?? `${field}[${i}]`}.use`,
            message: `${ref.use} requires the capability ${missing.map((m) => `'${m}'`).join(', ')}, which model ${model.use} does not offer (it offers: ${[...offered].join(', ') || 'none'}). Choose another model or remove this entry.`,
          });
        }
      });
    check(attacks, 'attacks');
    check(unlearners, 'unlearners', unlearnerPaths);
    check(metrics, 'metrics');
  }

  const warnings: ManifestIssue[] = [];
  if (dataset) checkSizes(dataset, attacks, manifest, issues, warnings);

  if (issues.length > 0) throw new InvalidManifestError(source, issues);

  const training: TrainingRecipe = manifest.training; // momentum and weightDecay defaulted by the schema
  const summary = (ref: ResolvedRef<ContributionKind>) => ({ use: ref.use, label: ref.label, options: ref.options });
  const resolved = {
    name: manifest.name,
    plugins: manifest.plugins,
    seeds: manifest.seeds,
    dataset: summary(dataset!),
    model: summary(model!),
    training,
    attacks: attacks.map((a) => summary(a!)),
    unlearners: unlearners.map((u) => ({ ...summary(u!), ...(u!.variant ? { variant: u!.variant } : {}) })),
    budgets: manifest.budgets,
    metrics: metrics.map((m) => summary(m!)),
    ...(manifest.selection ? { selection: manifest.selection } : {}),
  };
  return {
    name: manifest.name,
    description: manifest.description ?? '',
    plugins: manifest.plugins,
    seeds: manifest.seeds,
    backend: manifest.backend,
    dataset: dataset!,
    model: model!,
    training,
    attacks: attacks as ResolvedRef<'attack'>[],
    unlearners: unlearners as ResolvedRef<'unlearner'>[],
    budgets: manifest.budgets,
    metrics: metrics as ResolvedRef<'metric'>[],
    ...(manifest.selection ? { selection: manifest.selection } : {}),
    cellTimeout: manifest.cellTimeout,
    warnings,
    hash: hashJson(resolved),
    resolved,
    baseDir,
  };
}

/**
 * Checks what the dataset's declared size (`DatasetDefinition.size`, from the options alone) makes
 * impossible or useless: parts above what the source holds, an attack `count` (or `fraction`) that
 * leaves no clean training point or makes no poison, a budget that buys less than one minibatch.
 * Attacks are read by the option names every shipped attack uses (`count`, `fraction`).
 */
function checkSizes(dataset: ResolvedRef<'dataset'>, attacks: readonly (ResolvedRef<'attack'> | undefined)[], manifest: Manifest, issues: ManifestIssue[], warnings: ManifestIssue[]): void {
  const size = dataset.definition.size;
  if (!size) return;
  let parts: ReturnType<typeof size>;
  try {
    parts = size(dataset.options as never);
  } catch (error) {
    issues.push({ path: 'dataset.options', message: `${dataset.use} could not compute its size from these options: ${(error as Error).message}` });
    return;
  }
  const n = (x: number) => x.toLocaleString('en-US');
  const validation = parts.validation ?? 0;
  const used = parts.train + parts.test + validation;
  if (parts.available !== undefined && used > parts.available) {
    const sum = `train ${n(parts.train)} + test ${n(parts.test)}${validation > 0 ? ` + validation ${n(validation)}` : ''}`;
    issues.push({ path: 'dataset.options', message: `${dataset.use} holds ${n(parts.available)} examples, but these options ask for ${n(used)} (${sum}). Lower the sizes to ${n(parts.available)} in all.` });
    return;
  }
  attacks.forEach((attack, i) => {
    const count = attack?.options.count;
    const fraction = attack?.options.fraction;
    if (typeof count === 'number' && count >= parts.train) {
      issues.push({ path: `attacks[${i}].options.count`, message: `${count} poisons from a training set of ${n(parts.train)} (${dataset.use} with these options) leaves no clean point. Choose count in 1..${n(parts.train - 1)}.` });
    } else if ((count === null || count === undefined) && typeof fraction === 'number' && Math.round(fraction * parts.train) < 1) {
      issues.push({ path: `attacks[${i}].options.fraction`, message: `${fraction} of a training set of ${n(parts.train)} rounds to no poison. Raise fraction to at least ${Number((0.5 / parts.train).toPrecision(2))}, or set count.` });
    }
  });
  // Retraining uses about epochs × |train| examples (fewer where an attack takes its poisons from the
  // training set), so a budget below one minibatch here is below one for certain.
  const retrain = manifest.training.epochs * parts.train;
  manifest.budgets.forEach((budget, i) => {
    const examples = Math.floor(budget * retrain);
    if (examples >= manifest.training.batchSize) return;
    const buys = examples === 0 ? 'buys no example at all: budgeted unlearners cannot take a step' : `buys at most ${n(examples)} example(s), less than one minibatch of ${manifest.training.batchSize}: budgeted unlearners take at most one partial step`;
    warnings.push({ path: `budgets[${i}]`, message: `${budget} of retraining (at most ${manifest.training.epochs} epoch(s) × ${n(parts.train)} examples = ${n(retrain)}) ${buys}. Raise the budget, or train on more examples.` });
  });
}

/** `none` and `retrain` name the two reference rows; another unlearner under those labels would be confused with them. */
function checkReferenceLabels(refs: readonly (ResolvedRef<'unlearner'> | undefined)[], issues: ManifestIssue[], paths?: readonly string[]): void {
  refs.forEach((ref, i) => {
    if (ref && !ref.definition.reference && (ref.label === 'none' || ref.label === 'retrain')) {
      issues.push({
        path: `${paths?.[i] ?? `unlearners[${i}]`}.label`,
        message: `'${ref.label}' is the label of the ${ref.label === 'none' ? 'poisoned' : 'retrained'} model's row; ${ref.use} needs another label.`,
      });
    }
  });
}

/** Budgets are told apart by their printed percentage (cell keys, tables): two that print alike are refused. */
function checkBudgetLabels(budgets: readonly number[], issues: ManifestIssue[]): void {
  const seen = new Map<string, number>();
  budgets.forEach((budget, i) => {
    const printed = `${Number((budget * 100).toPrecision(6))}%`; // as the runner's formatBudget prints it
    const first = seen.get(printed);
    if (first !== undefined) issues.push({ path: `budgets[${i}]`, message: `${budget} prints as ${printed}, like budgets[${first}] (${budgets[first]}). Remove one of them, or make them differ.` });
    else seen.set(printed, i);
  });
}

function checkUniqueLabels(refs: readonly (ResolvedRef<ContributionKind> | undefined)[], field: string, issues: ManifestIssue[], paths?: readonly string[]): void {
  const seen = new Map<string, number>();
  const at = (i: number) => paths?.[i] ?? `${field}[${i}]`;
  refs.forEach((ref, i) => {
    if (!ref) return;
    const first = seen.get(ref.label);
    if (first !== undefined) {
      issues.push({
        path: at(i),
        message: `label '${ref.label}' is already used by ${at(first)}. Give one of them a distinct "label".`,
      });
    } else seen.set(ref.label, i);
  });
}
