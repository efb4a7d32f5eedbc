/**
 * Identity helpers that give plugin authors type checking and editor help. They return their
 * argument unchanged; validation happens when a plugin is registered.
 */
import type {
  AttackDefinition,
  DatasetDefinition,
  MetricDefinition,
  ModelDefinition,
  Plugin,
  SummaryMetricDefinition,
  UnlearnerDefinition,
} from './types.ts';

/** Declares a plugin package's default export. */
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

/** Declares a poisoning attack. */
export function defineAttack<O>(definition: AttackDefinition<O>): AttackDefinition<O> {
  return definition;
}

/** Declares an unlearning method. */
export function defineUnlearner<O>(definition: UnlearnerDefinition<O>): UnlearnerDefinition<O> {
  return definition;
}

/** Declares a metric. */
export function defineMetric<O>(definition: MetricDefinition<O>): MetricDefinition<O> {
  return definition;
}

/**
 * Declares an experiment-level metric, computed once after the run from the other metrics'
 * aggregates over seeds (`scope: 'summary'`); put it in the plugin's `summaryMetrics`.
 */
export function defineSummaryMetric<O>(definition: Omit<SummaryMetricDefinition<O>, 'scope'> & { readonly scope?: 'summary' }): SummaryMetricDefinition<O> {
  return { ...definition, scope: 'summary' };
}

/** Declares a model architecture. */
export function defineModel<O>(definition: ModelDefinition<O>): ModelDefinition<O> {
  return definition;
}

/** Declares a dataset. */
export function defineDataset<O>(definition: DatasetDefinition<O>): DatasetDefinition<O> {
  return definition;
}
