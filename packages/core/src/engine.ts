/** What the tensor engine reports about itself; plugins get it as `ctx.engine`. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** The backend that runs, and why it was chosen. */
export interface EngineInfo {
  /** Backend that actually runs tensors. */
  readonly backend: BackendName;
  /** Human-readable reason for the choice (logged at the start of every run). */
  readonly reason: string;
  /** Threads the backend uses, where known. */
  readonly threads: number;
}
