/**
 * Compute accounting. The unit is one example passed through forward + backward (every example
 * whose loss is differentiated counts 1; forward-only passes do not); an unlearner's budget is a
 * fraction of what training the retrained model used. The runner does not take an unlearner's
 * meter on trust: it counts the same unit itself (runner/metered-model.ts) and fails the cell when
 * its count exceeds the limit or what the meter reports.
 */
import { BudgetExceededError } from './errors.ts';

/** Counts examples through forward + backward, optionally against a limit. */
export interface BudgetMeter {
  /** Examples counted so far. */
  readonly used: number;
  /** Upper bound, or `Infinity` when unlimited. */
  readonly limit: number;
  /** `limit - used`, never below 0. */
  readonly remaining: number;
  /** Records `examples` forward+backward passes; throws BudgetExceededError past the limit. */
  spend(examples: number): void;
}

class Meter implements BudgetMeter {
  used = 0;
  constructor(readonly limit: number) {}

  get remaining(): number {
    return Math.max(0, this.limit - this.used);
  }

  spend(examples: number): void {
    if (!Number.isFinite(examples) || examples < 0) throw new RangeError(`cannot spend ${examples} examples`);
    if (this.used + examples > this.limit) throw new BudgetExceededError(this.used + examples, this.limit);
    this.used += examples;
  }
}

/** A meter with the given limit (default: unlimited). */
export function createBudgetMeter(limit = Number.POSITIVE_INFINITY): BudgetMeter {
  return new Meter(limit);
}
