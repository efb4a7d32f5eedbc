/** Paths given in plugin options. */
import { isAbsolute, resolve } from 'node:path';
import type { PluginContext } from './plugin/types.ts';

/**
 * An option's path made absolute: relative to the manifest's folder in a run (`ctx.baseDir`), to
 * the working directory otherwise. A manifest then means the same files whatever folder
 * `unlearn-bench` is started from.
 */
export function resolveOptionPath(ctx: Pick<PluginContext, 'baseDir'>, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.baseDir ?? process.cwd(), path);
}
