/**
 * Loading the plugins a manifest names in `"plugins"`: npm package names, resolved from the
 * manifest's folder upwards through node_modules, or relative paths (`./my-plugin`). Nothing else
 * in a manifest can run code.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidPluginError, UnlearnBenchError } from '../errors.ts';
import type { Plugin } from '../plugin/types.ts';
import { parseJson } from './parse-json.ts';

type ExportsField = string | { [condition: string]: ExportsField } | null | undefined;

/**
 * The export condition under which a package points at its TypeScript sources (ours do, and so
 * does a scaffolded plugin). It is used only when that file exists: a published package ships
 * `dist/` alone and loads from the import/node/default conditions.
 */
export const SOURCE_CONDITION = '@unlearn-bench/source';

/** The targets an `exports` entry offers for ".", most preferred first. */
function exportTargets(field: ExportsField): string[] {
  if (typeof field === 'string') return [field];
  if (!field || typeof field !== 'object') return [];
  if ('.' in field) return exportTargets(field['.']);
  return [SOURCE_CONDITION, 'import', 'node', 'default'].flatMap((condition) => exportTargets(field[condition]));
}

/** The entry file of package directory `dir`. */
function packageEntry(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports?: ExportsField; main?: string };
  const targets = exportTargets(manifest.exports).map((target) => resolve(dir, target));
  return targets.find((target) => existsSync(target)) ?? targets[targets.length - 1] ?? resolve(dir, manifest.main ?? 'index.js');
}

/** Resolves a plugin specifier to a file, from the folder `base`. */
export function resolvePluginSpecifier(specifier: string, base: string): string {
  if (specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/')) {
    const path = resolve(base, specifier);
    if (!existsSync(path)) throw new Error(`${path} does not exist`);
    if (statSync(path).isDirectory()) return existsSync(join(path, 'package.json')) ? packageEntry(path) : join(path, 'index.js');
    return path;
  }
  for (let dir = resolve(base); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', specifier);
    if (existsSync(join(candidate, 'package.json'))) return packageEntry(candidate);
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cannot find package '${specifier}' in node_modules above ${base}; install it (npm install ${specifier}) or give a path starting with ./`);
}

function isPlugin(value: unknown): value is Plugin {
  return !!value && typeof value === 'object' && 'meta' in value;
}

/** Imports one plugin module and returns its default export (or its `plugin` export). */
export async function importPlugin(specifier: string, base: string): Promise<Plugin> {
  let file: string;
  let module: Record<string, unknown>;
  try {
    file = resolvePluginSpecifier(specifier, base);
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidPluginError(`Plugin '${specifier}' failed to load: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  const candidate = isPlugin(module.default) ? module.default : isPlugin(module.plugin) ? module.plugin : undefined;
  if (!candidate) {
    throw new InvalidPluginError(
      `Plugin '${specifier}' (${file}) does not export a plugin: its default export must be definePlugin({ meta, ... }) from @unlearn-bench/core.`,
    );
  }
  return candidate;
}

/**
 * Reads the `plugins` list of the manifest at `path` (without validating the rest) and imports
 * each. Returns an empty list if the manifest has none or cannot be parsed (validation reports it).
 */
export async function loadManifestPlugins(path: string): Promise<Plugin[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const parsed = parseJson(text);
  if (!parsed.ok || !parsed.value || typeof parsed.value !== 'object') return [];
  const specifiers = (parsed.value as { plugins?: unknown }).plugins;
  if (!Array.isArray(specifiers)) return [];
  const plugins: Plugin[] = [];
  for (const [i, specifier] of specifiers.entries()) {
    if (typeof specifier !== 'string') continue;
    try {
      plugins.push(await importPlugin(specifier, dirname(resolve(path))));
    } catch (error) {
      if (error instanceof UnlearnBenchError) throw new InvalidPluginError(`plugins[${i}]: ${error.message}`, { cause: error });
      throw error;
    }
  }
  return plugins;
}
