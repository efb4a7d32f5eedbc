/**
 * Loading the plugins a manifest names in `"plugins"`: npm package names, resolved from the
 * manifest's folder upwards through node_modules, or relative paths (`./my-plugin`). Nothing else
 * in a manifest can run code.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/**
 * Packages a plugin must share with the core that runs it: a second copy of core has its own
 * registry and error classes (`instanceof` fails), a second TF.js core registers its platform and
 * kernels again and keeps its own tensor classes.
 */
const SHARED_PACKAGES = ['@unlearn-bench/core', '@tensorflow/tfjs-core'] as const;

/** The folder of package `name` as seen from `from` (symlinks followed), or undefined if it does not resolve. */
function packageFolder(from: string, name: string): string | undefined {
  try {
    return dirname(realpathSync(createRequire(from).resolve(`${name}/package.json`)));
  } catch {
    return undefined;
  }
}

/**
 * Warnings for each package of SHARED_PACKAGES that the plugin file `file` resolves to another copy
 * of than this core does, naming both folders (empty when it shares them all).
 */
function duplicateCopies(specifier: string, file: string): string[] {
  const warnings: string[] = [];
  for (const name of SHARED_PACKAGES) {
    const ours = packageFolder(import.meta.url, name);
    const theirs = packageFolder(file, name);
    if (ours && theirs && ours !== theirs) {
      warnings.push(
        `plugin '${specifier}' resolves its own copy of ${name} (${theirs}), not the one unlearn-bench runs with (${ours}); two copies break instanceof checks and TF.js's engine. Install the plugin's development copies the way docs/PLUGINS.md §1 says, so that npm keeps one (npm ls ${name} shows them).`,
      );
    }
  }
  return warnings;
}

/**
 * Makes TypeScript importable, installed by a host that does not load it from the start (the
 * compiled CLI registers tsx only when a plugin needs it: its module hooks slow every later import
 * of the process, about 0.7 s at start-up). Called before a `.ts`/`.mts`/`.cts` plugin is imported,
 * and once more if a JavaScript plugin imports TypeScript.
 */
let typeScriptLoader: (() => Promise<void>) | undefined;

/** Installs the loader `importPlugin` calls before it imports TypeScript (see `typeScriptLoader`). */
export function setTypeScriptLoader(loader: (() => Promise<void>) | undefined): void {
  typeScriptLoader = loader;
}

/** `import(file)`, with the TypeScript loader installed first where the module needs it. */
async function importModule(file: string): Promise<Record<string, unknown>> {
  if (typeScriptLoader && /\.[cm]?tsx?$/.test(file)) await typeScriptLoader();
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !typeScriptLoader) throw error;
    await typeScriptLoader();
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }
}

/**
 * Imports one plugin module and returns its default export (or its `plugin` export). `warn` gets a
 * message for each package it would load a second copy of (see duplicateCopies).
 */
export async function importPlugin(specifier: string, base: string, warn?: (message: string) => void): Promise<Plugin> {
  let file: string;
  let module: Record<string, unknown>;
  try {
    file = resolvePluginSpecifier(specifier, base);
    if (warn) for (const message of duplicateCopies(specifier, file)) warn(message);
    module = await importModule(file);
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
 * `warn` gets the duplicate-copy warnings of importPlugin. Relative paths resolve against `baseDir`
 * (default: the manifest's folder).
 */
export async function loadManifestPlugins(path: string, warn?: (message: string) => void, baseDir = dirname(resolve(path))): Promise<Plugin[]> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return loadManifestTextPlugins(text, baseDir, warn);
}

/** loadManifestPlugins for manifest text whose relative plugin paths resolve against `baseDir` (a manifest that came through a queue). */
export async function loadManifestTextPlugins(text: string, baseDir: string, warn?: (message: string) => void): Promise<Plugin[]> {
  const parsed = parseJson(text);
  if (!parsed.ok || !parsed.value || typeof parsed.value !== 'object') return [];
  const specifiers = (parsed.value as { plugins?: unknown }).plugins;
  if (!Array.isArray(specifiers)) return [];
  const plugins: Plugin[] = [];
  for (const [i, specifier] of specifiers.entries()) {
    if (typeof specifier !== 'string') continue;
    try {
      plugins.push(await importPlugin(specifier, baseDir, warn));
    } catch (error) {
      if (error instanceof UnlearnBenchError) throw new InvalidPluginError(`plugins[${i}]: ${error.message}`, { cause: error });
      throw error;
    }
  }
  return plugins;
}
