/** Injection tokens of the root and cell containers. tsyringe stays inside core. */

/** The plugin Registry (root container, one instance). */
export const REGISTRY = Symbol('unlearn-bench:registry');
/** The EngineInfo of the running tensor backend. */
export const ENGINE = Symbol('unlearn-bench:engine');
/** The Logger of the run. */
export const LOGGER = Symbol('unlearn-bench:logger');
/** The container itself, so services can create child containers. */
export const CONTAINER = Symbol('unlearn-bench:container');
