/**
 * The dependency rule of DESIGN.md, checked on package.json files and on every import in the
 * sources: core depends on no package of ours; models, attacks, unlearners and metrics depend on
 * core (attacks and metrics may also use models); plugins depend only on core; cli may use all.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const allowed: Record<string, readonly string[]> = {
  core: [],
  models: ['core'],
  attacks: ['core', 'models'],
  unlearners: ['core'],
  metrics: ['core', 'models'],
  cli: ['core', 'models', 'attacks', 'unlearners', 'metrics'],
};

function packagesIn(folder: string): { dir: string; name: string; kind: string }[] {
  const base = join(root, folder);
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((entry) => existsSync(join(base, entry, 'package.json')))
    .map((entry) => ({ dir: join(base, entry), name: entry, kind: folder === 'plugins' ? 'plugin' : entry }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (entry === 'node_modules' || entry === 'dist') return [];
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(entry) ? [path] : [];
  });
}

const all = [...packagesIn('packages'), ...packagesIn('plugins')];

describe('dependency rule', () => {
  it('knows every package', () => {
    for (const pkg of all) if (pkg.kind !== 'plugin') expect(Object.keys(allowed)).toContain(pkg.name);
  });

  it.each(all.map((p) => [p.kind === 'plugin' ? `plugins/${p.name}` : `packages/${p.name}`, p] as const))('%s imports only what it may', (_label, pkg) => {
    const may = pkg.kind === 'plugin' ? ['core'] : allowed[pkg.name];
    const manifest = JSON.parse(readFileSync(join(pkg.dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const declared = ['dependencies', 'devDependencies', 'peerDependencies']
      .flatMap((field) => Object.keys(manifest[field] ?? {}))
      .filter((dep) => dep.startsWith('@unlearn-bench/'))
      .map((dep) => dep.slice('@unlearn-bench/'.length));
    expect(declared.filter((dep) => !may.includes(dep))).toEqual([]);
    const imported = sourceFiles(pkg.dir).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](@unlearn-bench\/[^'"/]+|\.\.\/\.\.\/\.\.\/(?:packages\/)?[^'"/]+)/g)].map((m) => ({ file, target: m[1] })),
    );
    const violations = imported
      .map(({ file, target }) => ({ file, target: target.replace(/^@unlearn-bench\//, '').replace(/^(\.\.\/)+(packages\/)?/, '') }))
      .filter(({ target }) => target !== pkg.name && !may.includes(target));
    expect(violations).toEqual([]);
  });
});
