/**
 * The CLI registers its built-in plugins without compiling their option schemas (each is compiled
 * when a manifest first uses it; see Registry.register): this is the check that every one of them
 * compiles with the shared ajv in strict mode, as registration would otherwise have done.
 */
import { Registry } from '@unlearn-bench/core';
import { describe, expect, it } from 'vitest';
import { builtinPlugins } from '../../src/builtins.ts';

describe('built-in plugins', () => {
  it('all have option schemas that compile', () => {
    const registry = new Registry();
    for (const plugin of builtinPlugins) registry.register(plugin);
    const count = (['dataset', 'model', 'attack', 'unlearner', 'metric'] as const).reduce((sum, kind) => sum + registry.list(kind).length, 0);
    expect(count).toBeGreaterThan(40);
  });
});
