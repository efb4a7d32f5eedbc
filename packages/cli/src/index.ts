/** @unlearn-bench/cli: the built-in plugin set and the CLI entry. */
export { builtinPlugins } from './builtins.ts';
export { main } from './main.ts';
