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
  /**
   * Kernels that replace the backend's own and change results in the last bits (`native-blas2-<core>`:
   * the optional OpenBLAS kernels under wasm, with OpenBLAS's CPU core); absent when the backend runs its own.
   */
  readonly kernels?: string;
}

/**
 * The engine as cell keys and records name it: the backend, plus `+kernels` when other kernels run
 * (`wasm+native-blas2-cooperlake`), so that results computed with different kernels are never reused or pooled
 * as one another's.
 */
export function engineKey(engine: Pick<EngineInfo, 'backend' | 'kernels'>): string {
  return engine.kernels ? `${engine.backend}+${engine.kernels}` : engine.backend;
}
