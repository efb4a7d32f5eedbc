/**
 * The cell grid. A group is one (seed, attack): it owns the poisoned and retrained models, which
 * every cell of the group reuses. Its cells are the poisoned model (`none`), the retrained model
 * (`retrain`), and every non-reference unlearner at every budget. Keys are readable and end in a
 * hash of everything that determines the cell, so an edited manifest recomputes exactly the cells
 * it changed.
 */
import type { Experiment, ResolvedRef } from '../manifest/manifest.ts';
import { canonicalJson, hashJson } from '../manifest/manifest.ts';
import { isSummaryMetric } from '../plugin/types.ts';
import type { CellIdentity } from './store.ts';

/** One cell to compute. `unlearner` is absent for the two reference cells. */
export interface CellPlan extends CellIdentity {
  readonly unlearnerRef?: ResolvedRef<'unlearner'>;
}

/** One (seed, attack) with its cells. */
export interface GroupPlan {
  readonly key: string;
  readonly seed: number;
  readonly attack: ResolvedRef<'attack'>;
  readonly cells: readonly CellPlan[];
  /** See CellIdentity.setup (the same for every cell of the group). */
  readonly setup: string;
  /** Versions of the plugins that make the group's reference models (dataset, model, attack). */
  readonly versions: string;
}

/** Canonical JSON `{ package: version }` of the plugins that provide `refs`. */
function pluginVersions(refs: readonly ResolvedRef<'dataset' | 'model' | 'attack' | 'unlearner' | 'metric'>[]): string {
  return canonicalJson(Object.fromEntries(refs.map((ref) => [ref.entry.plugin.name, ref.entry.plugin.version])));
}

function spec(ref: ResolvedRef<'dataset' | 'model' | 'attack' | 'unlearner' | 'metric'>): object {
  return { use: ref.use, options: ref.options };
}

/** Budget as a short percentage string, e.g. `5%`. */
export function formatBudget(budget: number | null): string {
  return budget === null ? '-' : `${Number((budget * 100).toPrecision(6))}%`;
}

/** Builds the groups and cells of `experiment` for the given backend, in run order. */
export function planCells(experiment: Experiment, backend: string): GroupPlan[] {
  const groups: GroupPlan[] = [];
  // Summary metrics never touch a cell (they run after the run, on aggregates), so choosing or
  // tuning one recomputes nothing.
  const metricRefs = experiment.metrics.filter((m) => !isSummaryMetric(m.definition));
  const metrics = metricRefs.map((m) => ({ ...spec(m), label: m.label }));
  for (const seed of experiment.seeds) {
    for (const attack of experiment.attacks) {
      const groupSpec = {
        dataset: spec(experiment.dataset),
        model: spec(experiment.model),
        training: experiment.training,
        backend,
        seed,
        attack: spec(attack),
      };
      const groupKey = `seed=${seed}/attack=${attack.label}#${hashJson(groupSpec).slice(0, 12)}`;
      const setup = hashJson({ dataset: groupSpec.dataset, model: groupSpec.model, training: groupSpec.training, backend, attack: groupSpec.attack });
      const references = [experiment.dataset, experiment.model, attack];
      const cell = (unlearner: string, role: CellPlan['role'], budget: number | null, unlearnerRef?: ResolvedRef<'unlearner'>): CellPlan => {
        const cellHash = hashJson({ groupSpec, role, budget, metrics, unlearner: unlearnerRef ? spec(unlearnerRef) : unlearner });
        return {
          key: `seed=${seed}/attack=${attack.label}/unlearner=${unlearner}/budget=${formatBudget(budget)}#${cellHash.slice(0, 12)}`,
          groupKey,
          seed,
          attack: attack.label,
          unlearner,
          budget,
          role,
          setup,
          versions: pluginVersions([...references, ...metricRefs, ...(unlearnerRef ? [unlearnerRef] : [])]),
          unlearnerRef,
        };
      };
      const cells: CellPlan[] = [cell('none', 'poisoned', null), cell('retrain', 'retrained', null)];
      for (const unlearner of experiment.unlearners) {
        if (unlearner.definition.reference) continue; // none / retrain: the reference cells above
        // An unbudgeted reference row (core/retrain-replica) runs once, with no budget.
        if (unlearner.definition.budget === 'unlimited') cells.push(cell(unlearner.label, 'unlearned', null, unlearner));
        else for (const budget of experiment.budgets) cells.push(cell(unlearner.label, 'unlearned', budget, unlearner));
      }
      groups.push({ key: groupKey, seed, attack, cells, setup, versions: pluginVersions(references) });
    }
  }
  return groups;
}
