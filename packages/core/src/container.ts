/**
 * The root dependency-injection container: one registry, the engine info and the logger. Each
 * group and cell of a run gets a child container, disposed in `finally`.
 */
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import type { EngineInfo } from './engine.ts';
import type { Logger } from './logger.ts';
import { Registry } from './plugin/registry.ts';
import type { Plugin } from './plugin/types.ts';
import { CONTAINER, ENGINE, LOGGER, REGISTRY } from './tokens.ts';

/** What the root container is built from. */
export interface ContainerOptions {
  /** Plugins to register (built-ins first, then those a manifest names). */
  readonly plugins: readonly Plugin[];
  /** A registry of exactly `plugins`, already built (the CLI's): used instead of registering them again. */
  readonly registry?: Registry;
  readonly engine: EngineInfo;
  readonly logger: Logger;
}

/** A root container with the registry (all `plugins` registered), engine and logger. */
export function createRootContainer(options: ContainerOptions): DependencyContainer {
  const root = globalContainer.createChildContainer();
  let registry = options.registry;
  if (!registry) {
    registry = new Registry();
    for (const plugin of options.plugins) registry.register(plugin);
  }
  root.register(REGISTRY, { useValue: registry });
  root.register(ENGINE, { useValue: options.engine });
  root.register(LOGGER, { useValue: options.logger });
  root.register(CONTAINER, { useValue: root });
  return root;
}
