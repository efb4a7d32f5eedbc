/**
 * Typed records an attack leaves for metrics (the noise of Gaussian poisons, a trigger, targets).
 * A key is declared once with its value type and shared by producer and consumer.
 */

/** A typed key into an attack's artifacts. */
export interface ArtifactKey<T> {
  readonly id: string;
  /** Type carrier only; never set. */
  readonly __type?: T;
}

/** Declares an artifact key; `id` should be namespaced, e.g. `core/gaussian-noise`. */
export function defineArtifact<T>(id: string): ArtifactKey<T> {
  return { id };
}

/** Artifacts an attack produced, readable by key. */
export class Artifacts {
  private readonly values = new Map<string, unknown>();

  set<T>(key: ArtifactKey<T>, value: T): this {
    this.values.set(key.id, value);
    return this;
  }

  get<T>(key: ArtifactKey<T>): T | undefined {
    return this.values.get(key.id) as T | undefined;
  }

  has(key: ArtifactKey<unknown>): boolean {
    return this.values.has(key.id);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }
}

/**
 * Gaussian poisoning record (PAPER.md): poison i is `baseInputs[i] + noise[i]` with label
 * `labels[i]`; `noise` was drawn from N(0, sigma² I). Rows are flat, `inputShape` per example.
 */
export interface GaussianNoiseRecord {
  readonly sigma: number;
  readonly count: number;
  readonly inputShape: readonly number[];
  readonly baseInputs: Float32Array;
  readonly noise: Float32Array;
  readonly labels: Int32Array;
}

/** Key under which `core/gaussian` records its noise and clean base points. */
export const GAUSSIAN_NOISE = defineArtifact<GaussianNoiseRecord>('core/gaussian-noise');
