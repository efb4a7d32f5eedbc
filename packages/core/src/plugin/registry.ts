/**
 * The plugin registry: a keyed map of contributions by kind, filled from `Plugin` objects. Built-ins
 * register exactly like outside plugins. Keys are `namespace/id`; duplicates throw; unknown keys
 * fail with a "did you mean".
 */
import { DuplicatePluginError, InvalidPluginError, UnknownPluginError } from '../errors.ts';
import { CAPABILITIES } from '../model.ts';
import { closestMatch } from '../suggest.ts';
import { getOrCreateValidator } from './ajv.ts';
import {
  API_VERSION,
  type AttackDefinition,
  type ContributionBase,
  type ContributionKind,
  type DatasetDefinition,
  type MetricDefinition,
  type ModelDefinition,
  type Plugin,
  type PluginMeta,
  type SummaryMetricDefinition,
  type UnlearnerDefinition,
} from './types.ts';

/** The definition type of each kind. */
export interface DefinitionOf {
  attack: AttackDefinition;
  unlearner: UnlearnerDefinition;
  /** Per-model metrics and experiment-level (summary) metrics share one key space. */
  metric: MetricDefinition | SummaryMetricDefinition;
  model: ModelDefinition;
  dataset: DatasetDefinition;
}

/** A registered contribution with its key and the plugin that provided it. */
export interface RegistryEntry<K extends ContributionKind = ContributionKind> {
  readonly kind: K;
  readonly key: string;
  readonly definition: DefinitionOf[K];
  readonly plugin: PluginMeta;
}

const KINDS: readonly ContributionKind[] = ['attack', 'unlearner', 'metric', 'model', 'dataset'];
/** The plugin fields each kind is read from; summary metrics register as metrics. */
const FIELDS: Record<ContributionKind, readonly (keyof Plugin)[]> = {
  attack: ['attacks'],
  unlearner: ['unlearners'],
  metric: ['metrics', 'summaryMetrics'],
  model: ['models'],
  dataset: ['datasets'],
};
const ID_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Holds every registered contribution. */
export class Registry {
  private readonly entries = new Map<ContributionKind, Map<string, RegistryEntry>>(KINDS.map((kind) => [kind, new Map()]));
  private readonly plugins: PluginMeta[] = [];

  /**
   * Validates and registers every contribution of `plugin`. Nothing is registered if any is invalid.
   * `compileSchemas: false` leaves each options schema to be compiled the first time it validates
   * options (`getOrCreateValidator`); the CLI registers its own built-in plugins so, since compiling
   * every schema of every built-in costs ~0.15 s a process and their conformance tests compile them
   * all. A plugin from elsewhere keeps the default, so a schema that does not compile is reported,
   * naming the plugin, before anything runs.
   */
  register(plugin: Plugin, options: { readonly compileSchemas?: boolean } = {}): void {
    const compile = options.compileSchemas ?? true;
    const meta = checkMeta(plugin);
    const pending: RegistryEntry[] = [];
    for (const kind of KINDS) {
      for (const field of FIELDS[kind]) {
        const list = plugin[field] as readonly ContributionBase[] | undefined;
        if (list === undefined) continue;
        if (!Array.isArray(list)) throw new InvalidPluginError(`Plugin '${meta.name}': '${field}' must be an array.`);
        for (const definition of list) {
          checkDefinition(meta, kind, definition, field === 'summaryMetrics', compile);
          const key = `${meta.namespace}/${definition.id}`;
          if (this.entries.get(kind)!.has(key) || pending.some((p) => p.kind === kind && p.key === key)) {
            throw new DuplicatePluginError(kind, key);
          }
          pending.push({ kind, key, definition: definition as DefinitionOf[typeof kind], plugin: meta });
        }
      }
    }
    for (const entry of pending) this.entries.get(entry.kind)!.set(entry.key, entry);
    this.plugins.push(meta);
  }

  /** The entry for `key`; throws UnknownPluginError with a suggestion when absent. */
  get<K extends ContributionKind>(kind: K, key: string): RegistryEntry<K> {
    const entry = this.entries.get(kind)!.get(key);
    if (!entry) {
      const known = [...this.entries.get(kind)!.keys()].sort();
      throw new UnknownPluginError(kind, key, closestMatch(key, known), known);
    }
    return entry as RegistryEntry<K>;
  }

  /** Whether `key` is registered for `kind`. */
  has(kind: ContributionKind, key: string): boolean {
    return this.entries.get(kind)!.has(key);
  }

  /** Every entry of `kind`, sorted by key. */
  list<K extends ContributionKind>(kind: K): RegistryEntry<K>[] {
    return [...this.entries.get(kind)!.values()].sort((a, b) => a.key.localeCompare(b.key)) as RegistryEntry<K>[];
  }

  /** Metadata of every registered plugin, in registration order. */
  registeredPlugins(): readonly PluginMeta[] {
    return this.plugins;
  }
}

/**
 * A registry of `plugins`. The host's own (`hostPlugins`, the CLI's built-ins) have their option
 * schemas compiled when first used (see Registry.register); any other plugin's at registration.
 */
export function buildRegistry(plugins: readonly Plugin[], hostPlugins: readonly Plugin[]): Registry {
  const registry = new Registry();
  for (const plugin of plugins) registry.register(plugin, { compileSchemas: !hostPlugins.includes(plugin) });
  return registry;
}

function checkMeta(plugin: Plugin): PluginMeta {
  const meta = (plugin as { meta?: PluginMeta } | undefined)?.meta;
  if (!meta || typeof meta !== 'object') throw new InvalidPluginError('A plugin must have a `meta` object ({ name, version, namespace, apiVersion }).');
  const name = typeof meta.name === 'string' ? meta.name : '(unnamed plugin)';
  if (typeof meta.name !== 'string' || meta.name.length === 0) throw new InvalidPluginError('Plugin meta.name must be a non-empty string.');
  if (typeof meta.version !== 'string') throw new InvalidPluginError(`Plugin '${name}': meta.version must be a string.`);
  if (typeof meta.namespace !== 'string' || !ID_PATTERN.test(meta.namespace)) {
    throw new InvalidPluginError(`Plugin '${name}': meta.namespace must be kebab-case (e.g. 'my-lab'), got ${JSON.stringify(meta.namespace)}.`);
  }
  if (meta.apiVersion !== API_VERSION) {
    throw new InvalidPluginError(`Plugin '${name}' targets plugin API version ${String(meta.apiVersion)}, but this core implements version ${API_VERSION}.`);
  }
  return meta;
}

function checkDefinition(meta: PluginMeta, kind: ContributionKind, definition: ContributionBase, summary: boolean, compile: boolean): void {
  const what = summary ? 'summary metric' : kind;
  const where = `Plugin '${meta.name}', ${what} ${JSON.stringify((definition as { id?: unknown })?.id ?? '(no id)')}`;
  if (!definition || typeof definition !== 'object') throw new InvalidPluginError(`Plugin '${meta.name}': every ${what} must be an object.`);
  if (typeof definition.id !== 'string' || !ID_PATTERN.test(definition.id)) throw new InvalidPluginError(`${where}: id must be kebab-case.`);
  if (typeof definition.description !== 'string' || definition.description.length === 0) {
    throw new InvalidPluginError(`${where}: a non-empty description is required.`);
  }
  const scope = (definition as { scope?: unknown }).scope;
  if (summary) {
    if (scope !== 'summary') throw new InvalidPluginError(`${where}: scope must be 'summary' (use defineSummaryMetric).`);
    if (typeof (definition as { summarize?: unknown }).summarize !== 'function') throw new InvalidPluginError(`${where}: summarize(input, options) is required.`);
    if ((definition as { requires?: unknown }).requires !== undefined) throw new InvalidPluginError(`${where}: a summary metric sees no model, so it cannot declare requires.`);
  } else if (scope !== undefined && !(kind === 'metric' && scope === 'model')) {
    throw new InvalidPluginError(
      kind === 'metric' && scope === 'summary'
        ? `${where}: a summary metric (scope 'summary') belongs in the plugin's summaryMetrics, not metrics.`
        : `${where}: unknown scope ${JSON.stringify(scope)}.`,
    );
  }
  if (!summary && typeof (definition as { create?: unknown }).create !== 'function') throw new InvalidPluginError(`${where}: create(options, ctx) is required.`);
  const schema = definition.optionsSchema as unknown as Record<string, unknown> | undefined;
  if (!schema || schema.type !== 'object' || schema.additionalProperties !== false || typeof schema.properties !== 'object') {
    throw new InvalidPluginError(`${where}: optionsSchema must be a JSON Schema with type 'object', properties, and additionalProperties: false.`);
  }
  for (const [property, sub] of Object.entries(schema.properties as Record<string, Record<string, unknown>>)) {
    if (typeof sub.description !== 'string') throw new InvalidPluginError(`${where}: option '${property}' needs a description.`);
    const required = (schema.required as string[] | undefined) ?? [];
    if (!('default' in sub) && !required.includes(property)) throw new InvalidPluginError(`${where}: option '${property}' needs a default (or must be required).`);
  }
  try {
    if (compile) getOrCreateValidator(definition.optionsSchema);
  } catch (error) {
    throw new InvalidPluginError(`${where}: optionsSchema does not compile: ${(error as Error).message}`, { cause: error });
  }
  const capabilities = [
    ...(((definition as { requires?: readonly string[] }).requires) ?? []),
    ...(((definition as { capabilities?: readonly string[] }).capabilities) ?? []),
  ];
  for (const capability of capabilities) {
    if (!CAPABILITIES.includes(capability as never)) {
      throw new InvalidPluginError(`${where}: unknown capability '${capability}'. Known: ${CAPABILITIES.join(', ')}.`);
    }
  }
}
