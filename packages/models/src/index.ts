/** @unlearn-bench/models: tensor engine, model architectures and datasets. */
export { createEngine } from './engine/index.ts';
export type { BackendChoice, EngineOptions } from './engine/index.ts';
