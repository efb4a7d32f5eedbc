/** Helpers shared by the summary metrics for reading their input aggregates. */
import type { SeedAggregate } from '@unlearn-bench/core';
import type { ScoreSummary } from './stats.ts';

/** Whether `metric` (a stored key) is selected by `patterns` (`*`, exact keys, `<name>:*`). */
export function selectsMetric(patterns: readonly string[], metric: string): boolean {
  return patterns.some((p) => p === '*' || p === metric || (p.endsWith(':*') && metric.startsWith(p.slice(0, -1))));
}

/** Per-seed score summaries (details `mean`, `std`, `k`) of a GUS-type aggregate; seeds without scores left out. */
export function scoreSummaries(a: Pick<SeedAggregate, 'details' | 'values'>): ScoreSummary[] {
  return a.details.flatMap((d, i) => {
    if (a.values[i] === null || !d) return [];
    const { mean, std, k } = d as { mean?: unknown; std?: unknown; k?: unknown };
    return typeof mean === 'number' && typeof k === 'number' && k > 0 ? [{ mean, std: typeof std === 'number' ? std : Number.NaN, k }] : [];
  });
}
