/** Test helpers: result records as the runner stores them, for the summary metrics' tests. */
import { aggregate, type ResultRecord, type ResultSpec, type SeedAggregate } from '@unlearn-bench/core';

/** Role of a model from its unlearner label. */
function roleOf(unlearner: string): ResultRecord['role'] {
  return unlearner === 'none' ? 'poisoned' : unlearner === 'retrain' ? 'retrained' : 'unlearned';
}

/** One stored record (value or null), with optional details and divergence. */
export function record(
  seed: number,
  unlearner: string,
  metric: string,
  value: number | null,
  extra: { details?: Record<string, number>; diverged?: string; budget?: number | null; attack?: string; setup?: string } = {},
): ResultRecord {
  const role = roleOf(unlearner);
  return {
    experiment: 'test',
    cell: `seed=${seed}/${unlearner}`,
    seed,
    attack: extra.attack ?? 'gaussian',
    unlearner,
    budget: extra.budget !== undefined ? extra.budget : role === 'unlearned' ? 0.1 : null,
    role,
    metric,
    value,
    details: extra.details ?? null,
    examples: 0,
    seconds: 0,
    budgetExamples: null,
    backend: 'cpu',
    manifestHash: 'h',
    attackExamples: 0,
    attackSeconds: 0,
    setup: extra.setup ?? 's',
    diverged: extra.diverged ?? null,
  } as ResultRecord;
}

/** Aggregates of `records` with these result specs by metric key. */
export function aggregatesOf(records: readonly ResultRecord[], specs: Record<string, ResultSpec>): SeedAggregate[] {
  return aggregate(records, new Map(Object.entries(specs)));
}
