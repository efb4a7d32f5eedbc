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

/** The file an `exports` entry points to, preferring the import/node/default conditions. */
function exportTarget(field: ExportsField): string | undefined {
  if (typeof field === 'string') return field;
  if (!field || typeof field !== 'object') return undefined;
  if ('.' in field) return exportTarget(field['.']);
  for (const condition of ['import', 'node', 'default']) {
    const target = exportTarget(field[condition]);
    if (target) return target;
  }
  return undefined;
}

/** The entry file of package directory `dir`. */
function packageEntry(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports?: ExportsField; main?: string };
  const target = exportTarget(manifest.exports) ?? manifest.main ?? 'index.js';
  return resolve(dir, target);
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
