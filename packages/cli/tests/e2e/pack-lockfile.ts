/**
 * Writes a package-lock.json for a project outside the workspace that depends on our packed
 * tarballs, so `npm ci --offline` can install it from the npm cache alone.
 *
 * Why: `npm ci` of the workspace caches every tarball it installs but no registry metadata, so a
 * plain `npm install` of our tarballs elsewhere would need the network to resolve versions. The
 * versions are already decided by the workspace's lockfile; this copies the entries our packages'
 * production dependencies reach (following Node's node_modules lookup over the lockfile's paths)
 * and adds one entry per tarball.
 */

/** One `packages` entry of a v3 lockfile (only the fields read here are typed). */
export interface LockEntry {
  version?: string;
  link?: boolean;
  resolved?: string;
  optional?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

/** A lockfile (v3) as far as used here. */
export interface Lockfile {
  name?: string;
  version?: string;
  requires?: boolean;
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** One of our packages, packed. */
export interface PackedPackage {
  /** Folder in the workspace, relative to its root (e.g. `packages/core`). */
  readonly workspacePath: string;
  /** Its package.json. */
  readonly manifest: { name: string; version: string; license?: string; bin?: Record<string, string>; engines?: Record<string, string>; dependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> };
  /** The tarball, relative to the new project's root (e.g. `tarballs/unlearn-bench-core-0.1.0.tgz`). */
  readonly tarball: string;
  /** `npm pack --json`'s sha512 integrity of the tarball. */
  readonly integrity: string;
}

/** The folder containing a lockfile path's node_modules entry (`''` for the root). */
function parentOf(path: string): string {
  const at = path.lastIndexOf('/node_modules/');
  return at >= 0 ? path.slice(0, at) : '';
}

/** The lockfile path `name` resolves to when required from the package at `from`. */
function resolveFrom(packages: Lockfile['packages'], from: string, name: string): string | undefined {
  for (let dir = from; ; dir = parentOf(dir)) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
  }
}

/**
 * The registry tarball URL of a lockfile entry that has none (npm leaves `resolved` out of some
 * lockfiles): without it, `npm ci --offline` asks for registry metadata, which the cache may not
 * hold, instead of the tarball, which it does.
 */
function registryTarball(path: string, entry: LockEntry): string | undefined {
  if (!entry.version) return undefined;
  const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${entry.version}.tgz`;
}

/** Names an entry needs at run time: dependencies, optional ones, and required peers. */
function runtimeDependencies(entry: Pick<LockEntry, 'dependencies' | 'optionalDependencies' | 'peerDependencies' | 'peerDependenciesMeta'>): string[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter((name) => !entry.peerDependenciesMeta?.[name]?.optional);
  return [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers];
}

/** How the new project differs from a plain consumer of the tarballs. */
export interface LockfileOptions {
  /**
   * Third-party packages the project itself declares (e.g. a plugin's devDependencies), taken with
   * everything they reach from the workspace root's node_modules.
   */
  readonly thirdParty?: readonly string[];
  /** The lockfile's root entry (the project's package.json fields); default: the tarballs as dependencies. */
  readonly root?: LockEntry;
}

/**
 * The new project's package.json dependencies and lockfile: our tarballs at the top level, and
 * every third-party package they reach at the path it has in the workspace (a package nested under
 * `packages/models/node_modules/` moves under `node_modules/@unlearn-bench/models/node_modules/`).
 */
export function lockfileForTarballs(
  workspace: Lockfile,
  packed: readonly PackedPackage[],
  projectName: string,
  options: LockfileOptions = {},
): { dependencies: Record<string, string>; lockfile: Lockfile } {
  const ours = new Set(packed.map((p) => p.manifest.name));
  const movedTo = new Map(packed.map((p) => [p.workspacePath, `node_modules/${p.manifest.name}`]));
  const relocate = (path: string): string => {
    for (const [from, to] of movedTo) if (path.startsWith(`${from}/`)) return to + path.slice(from.length);
    return path;
  };

  const reached = new Set<string>();
  const visit = (from: string, names: readonly string[], optional: (name: string) => boolean) => {
    for (const name of names) {
      if (ours.has(name)) continue;
      const path = resolveFrom(workspace.packages, from, name);
      if (!path) {
        if (optional(name)) continue;
        throw new Error(`the workspace lockfile has no '${name}' reachable from '${from || '(root)'}'`);
      }
      const entry = workspace.packages[path];
      if (entry.link) throw new Error(`'${name}' is a workspace link but not one of the packed packages`);
      if (reached.has(path)) continue;
      reached.add(path);
      visit(path, runtimeDependencies(entry), (dep) => dep in (entry.optionalDependencies ?? {}));
    }
  };
  for (const p of packed) {
    const entry = workspace.packages[p.workspacePath];
    if (!entry) throw new Error(`the workspace lockfile has no entry for ${p.workspacePath}`);
    visit(p.workspacePath, runtimeDependencies(p.manifest), () => false);
  }
  visit('', options.thirdParty ?? [], () => false);

  const dependencies = Object.fromEntries(packed.map((p) => [p.manifest.name, `file:${p.tarball}`]));
  const packages: Lockfile['packages'] = { '': options.root ?? { name: projectName, version: '0.0.0', dependencies } };
  for (const p of packed) {
    const { name, version, license, bin, engines, dependencies: deps, peerDependencies, peerDependenciesMeta } = p.manifest;
    packages[`node_modules/${name}`] = JSON.parse(
      JSON.stringify({ version, resolved: `file:${p.tarball}`, integrity: p.integrity, license, bin, engines, dependencies: deps, peerDependencies, peerDependenciesMeta }),
    ) as LockEntry;
  }
  for (const path of [...reached].sort()) {
    const { dev, devOptional, peer, ...entry } = workspace.packages[path];
    void dev, void devOptional, void peer;
    packages[relocate(path)] = { ...entry, resolved: entry.resolved ?? registryTarball(path, entry) };
  }
  return { dependencies, lockfile: { name: projectName, version: '0.0.0', lockfileVersion: 3, requires: true, packages } };
}
