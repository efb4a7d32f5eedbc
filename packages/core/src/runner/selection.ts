/**
 * Choosing one variant of each swept unlearner per (attack, budget) for the verdict tables, by a
 * manifest's `selection` rule. Variants are the rows a `sweep` expands to, labelled
 * `<label>[k=v,…]`; a plain label cannot contain `[`, so the label tells them apart.
 *
 * - `oracle`: among the variants whose mean validation accuracy is at most `maxAccuracyDrop` below
 *   the poisoned model's, the one whose mean of `metric` is closest to the retrained model's. It sees
 *   the poison metric, so it is the strongest case for the method: a method that stays `different`
 *   after it fails robustly. If no variant keeps accuracy, the one with the best validation accuracy.
 * - `utility`: the best mean validation accuracy (what a practitioner without the poison metric
 *   could do).
 * Ties go to the first variant in the grid's order; diverged variants are never chosen.
 */
import type { SelectionRule } from '../manifest/manifest.ts';
import type { SeedAggregate } from '../plugin/types.ts';

/** What the rule chose for one variant row. */
export interface VariantPick {
  /** The swept entry's label (the part before `[`). */
  readonly of: string;
  readonly selected: boolean;
  /** Number of variants the choice was made among. */
  readonly among: number;
  /**
   * On the chosen variant only: true when the rule's constraint could not be met (no variant kept
   * validation accuracy, or the poison metric is not measured for the attack) and the best
   * validation accuracy chose instead.
   */
  readonly unconstrained?: boolean;
}

/** The result of applying a selection rule to a setup's aggregates. */
export interface VariantSelection {
  /** By model key (`attack`, unlearner label, budget as JSON), for variant rows only. */
  readonly picks: ReadonlyMap<string, VariantPick>;
  /** What the reader must know (the rule, and any group chosen without the accuracy constraint). */
  readonly notes: readonly string[];
}

const budgetText = (budget: number | null) => (budget === null ? '-' : `${Number((budget * 100).toPrecision(6))}%`);

/** The swept entry a variant label comes from, or undefined for a plain label. */
export function variantOf(label: string): string | undefined {
  const match = /^(.+)\[.+\]$/.exec(label);
  return match ? match[1] : undefined;
}

/** Key of a model row: attack, unlearner label, budget. */
export function modelKey(a: Pick<SeedAggregate, 'attack' | 'unlearner' | 'budget'>): string {
  return JSON.stringify([a.attack, a.unlearner, a.budget]);
}

/** Applies `rule` to the aggregates of one setup. */
export function selectVariants(aggregates: readonly SeedAggregate[], rule: SelectionRule | undefined): VariantSelection {
  if (!rule || rule.rule === 'none') return { picks: new Map(), notes: [] };
  const mean = (a: SeedAggregate | undefined) => (a && a.diverged.length === 0 && Number.isFinite(a.mean) ? a.mean : Number.NaN);
  const find = (attack: string, unlearner: string, budget: number | null, metric: string) =>
    aggregates.find((a) => a.attack === attack && a.unlearner === unlearner && a.budget === budget && a.metric === metric);
  const role = (attack: string, r: SeedAggregate['role'], metric: string) => aggregates.find((a) => a.attack === attack && a.role === r && a.metric === metric);
  const groups = new Map<string, { attack: string; of: string; budget: number | null; labels: string[] }>();
  for (const a of aggregates) {
    const of = variantOf(a.unlearner);
    if (!of) continue;
    const key = JSON.stringify([a.attack, of, a.budget]);
    const group = groups.get(key) ?? { attack: a.attack, of, budget: a.budget, labels: [] };
    if (!group.labels.includes(a.unlearner)) group.labels.push(a.unlearner);
    groups.set(key, group);
  }
  const picks = new Map<string, VariantPick>();
  const notes: string[] = [];
  if (groups.size === 0) return { picks, notes };
  if (!aggregates.some((a) => a.metric === rule.validationMetric)) {
    notes.push(`selection (${rule.rule}) needs '${rule.validationMetric}' in the results: give the dataset a validation split (e.g. core/mnist's validationSize). Every variant is judged as its own row.`);
    return { picks, notes };
  }
  for (const { attack, of, budget, labels } of groups.values()) {
    const validation = labels.map((label) => mean(find(attack, label, budget, rule.validationMetric)));
    const best = (candidates: number[], score: (i: number) => number) => candidates.reduce((b, i) => (b < 0 || score(i) < score(b) ? i : b), -1);
    const usable = labels.map((_, i) => i).filter((i) => Number.isFinite(validation[i]));
    let chosen = -1;
    let unconstrained = false;
    const unmeasured = rule.rule === 'oracle' && !Number.isFinite(mean(role(attack, 'retrained', rule.metric!)));
    if (rule.rule === 'utility' || unmeasured) {
      chosen = best(usable, (i) => -validation[i]);
      const note = `selection: ${rule.metric} has no retrained value for ${attack} (not measured for this attack), so its variants are chosen by the best ${rule.validationMetric} (the utility rule).`;
      unconstrained = unmeasured;
      if (unmeasured && !notes.includes(note)) notes.push(note);
    } else {
      const floor = mean(role(attack, 'poisoned', rule.validationMetric)) - rule.maxAccuracyDrop;
      const target = mean(role(attack, 'retrained', rule.metric!));
      const distance = (i: number) => Math.abs(mean(find(attack, labels[i], budget, rule.metric!)) - target);
      const eligible = usable.filter((i) => validation[i] >= floor && Number.isFinite(distance(i)));
      chosen = best(eligible, distance);
      if (chosen < 0) {
        chosen = best(usable, (i) => -validation[i]);
        unconstrained = chosen >= 0;
        if (chosen >= 0) notes.push(`selection: no variant of ${of} at ${budgetText(budget)} (${attack}) keeps validation accuracy within ${rule.maxAccuracyDrop} of the poisoned model's; the one with the best validation accuracy is shown.`);
      }
    }
    if (chosen < 0) notes.push(`selection: every variant of ${of} at ${budgetText(budget)} (${attack}) diverged or has no ${rule.validationMetric}; none is in the verdict tables.`);
    labels.forEach((label, i) =>
      picks.set(modelKey({ attack, unlearner: label, budget }), { of, selected: i === chosen, among: labels.length, ...(i === chosen && unconstrained ? { unconstrained: true } : {}) }),
    );
  }
  const how =
    rule.rule === 'oracle'
      ? `oracle: per method and budget, the variant closest to retraining on ${rule.metric} among those within ${rule.maxAccuracyDrop} of the poisoned model's ${rule.validationMetric}. It saw the poison metric: the strongest case for each method`
      : `utility: per method and budget, the variant with the best ${rule.validationMetric} (the poison metric unseen)`;
  notes.unshift(`selection (${how}); * marks the chosen variants, and only they are in the verdict tables.`);
  return { picks, notes };
}
