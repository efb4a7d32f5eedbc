/**
 * Publishing, tested the way an outsider meets it: `npm pack` every package of ours and the
 * example plugin, install the tarballs into a fresh folder outside the workspace (offline, from the
 * npm cache), type-check a consumer against the shipped `.d.ts`, and run a manifest that loads the
 * plugin with the installed `unlearn-bench` command, which then runs compiled JavaScript only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockfileForTarballs, type Lockfile, type PackedPackage } from './pack-lockfile.ts';

const root = resolve(import.meta.dirname, '../../../..');
/** Every workspace package (each `prepack` is an incremental `tsc -b`, which builds its references first). */
const PACKAGES = ['packages/core', 'packages/models', 'packages/unlearners', 'packages/metrics', 'packages/attacks', 'packages/cli', 'plugins/example-unlearner'];
const app = mkdtempSync(join(tmpdir(), 'unlearn-bench-pack-'));
const npm = (args: string[], cwd: string) =>
  spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });

interface PackJson {
  name: string;
  filename: string;
  integrity: string;
  files: { path: string }[];
}
const packed: (PackedPackage & { files: string[] })[] = [];

beforeAll(() => {
  mkdirSync(join(app, 'tarballs'));
  // The command docs/PLUGINS.md §1 gives for packing a checkout.
  const result = npm(['pack', '--workspaces', '--json', '--pack-destination', join(app, 'tarballs')], root);
  if (result.status !== 0) throw new Error(`npm pack --workspaces failed:\n${result.stderr}`);
  const infos = JSON.parse(result.stdout.slice(result.stdout.indexOf('['))) as PackJson[];
  for (const dir of PACKAGES) {
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as PackedPackage['manifest'];
    const info = infos.find((i) => i.name === manifest.name);
    if (!info) throw new Error(`npm pack --workspaces did not pack ${manifest.name}`);
    packed.push({ workspacePath: dir, manifest, tarball: `tarballs/${info.filename}`, integrity: info.integrity, files: info.files.map((f) => f.path) });
  }
  expect(infos.map((i) => i.name).sort()).toEqual(packed.map((p) => p.manifest.name).sort());
}, 600_000);

afterAll(() => rmSync(app, { recursive: true, force: true }));

/** Every installed copy of package `name` under the node_modules folder `dir`, however deep. */
function copiesOf(dir: string, name: string): string[] {
  const found: string[] = [];
  const walk = (modules: string) => {
    if (!existsSync(modules)) return;
    if (existsSync(join(modules, name, 'package.json'))) found.push(join(modules, name));
    for (const entry of readdirSync(modules)) {
      const folders = entry.startsWith('@') ? readdirSync(join(modules, entry)).map((e) => join(modules, entry, e)) : [join(modules, entry)];
      for (const folder of folders) walk(join(folder, 'node_modules'));
    }
  };
  walk(dir);
  return found;
}

describe('publishing', () => {
  it('packs compiled JavaScript with declarations, and no TypeScript sources, tests or build state', () => {
    for (const p of packed) {
      expect(p.files, p.manifest.name).toContain('dist/index.js');
      expect(p.files, p.manifest.name).toContain('dist/index.d.ts');
      expect(p.files, p.manifest.name).toContain('package.json');
      expect(p.files.filter((f) => f.startsWith('src/') || /\.test\.(ts|js)$/.test(f) || f.includes('tsbuildinfo') || (f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.d.cts'))), p.manifest.name).toEqual([]);
    }
    const byName = new Map(packed.map((p) => [p.manifest.name, p.files]));
    expect(byName.get('@unlearn-bench/core')).toContain('schema/experiment.schema.json');
    expect(byName.get('@unlearn-bench/core')).toContain('dist/testing/index.d.ts');
    expect(byName.get('@unlearn-bench/models')).toContain('dist/engine/wasm-threads-worker.cjs');
    expect(byName.get('@unlearn-bench/cli')).toContain('bin/unlearn-bench.js');
  });

  it('declares what an installed package needs: every import of the compiled code is a dependency or peer', () => {
    const builtins = new Set(createRequire(import.meta.url)('node:module').builtinModules as string[]);
    for (const p of packed) {
      const declared = new Set([...Object.keys(p.manifest.dependencies ?? {}), ...Object.keys(p.manifest.peerDependencies ?? {}), p.manifest.name]);
      const missing = new Set<string>();
      // (scaffold.js is left out: its template text holds the import lines of the package it generates)
      for (const file of p.files.filter((f) => /^dist\/.*\.(js|cjs)$/.test(f) && f !== 'dist/cli/scaffold.js')) {
        const text = readFileSync(join(root, p.workspacePath, file), 'utf8');
        for (const [, specifier] of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*|import\s+)['"]([^'"./][^'"]*)['"]/g)) {
          const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
          if (!builtins.has(name) && !name.startsWith('node:') && !declared.has(name)) missing.add(`${name} (${file})`);
        }
      }
      expect([...missing], p.manifest.name).toEqual([]);
    }
  });

  it('follows docs/PLUGINS.md §1 from an empty folder: scaffold, install core from the checkout, npm test, and a manifest run with the installed CLI', () => {
    // "Core from a local checkout": the scaffold, written by the checkout's bin outside the workspace.
    const scaffold = spawnSync(process.execPath, [join(root, 'packages/cli/bin/unlearn-bench.js'), 'new-plugin', 'unlearner', 'my-method', '--out', app], { encoding: 'utf8' });
    expect(scaffold.status, scaffold.stderr).toBe(0);
    const plugin = join(app, 'unlearn-bench-plugin-my-method');
    // The tarballs `npm pack --workspaces --pack-destination` wrote, installed with
    // `npm install -D <tarballs>`: that sets each package's devDependency to `file:<tarball>`. Offline,
    // that command cannot resolve the third-party packages, so the same package.json and a lockfile
    // from the workspace's are written and installed with `npm ci --offline` instead.
    const local = packed.map((p) => ({ ...p, tarball: `../${p.tarball}` }));
    const pkg = JSON.parse(readFileSync(join(plugin, 'package.json'), 'utf8')) as { name: string; version: string; devDependencies: Record<string, string>; peerDependencies: Record<string, string> };
    for (const p of local) pkg.devDependencies[p.manifest.name] = `file:${p.tarball}`;
    writeFileSync(join(plugin, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
    const thirdParty = Object.keys(pkg.devDependencies).filter((name) => !local.some((p) => p.manifest.name === name));
    const workspaceLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
    const { lockfile } = lockfileForTarballs(workspaceLock, local, pkg.name, {
      thirdParty,
      root: { name: pkg.name, version: pkg.version, devDependencies: pkg.devDependencies, peerDependencies: pkg.peerDependencies },
    });
    writeFileSync(join(plugin, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
    // Install scripts are skipped (offline they could not download anything anyway); the one native
    // addon the run needs, better-sqlite3's, is copied from the workspace's build of the same version.
    const install = npm(['ci', '--offline', '--ignore-scripts'], plugin);
    expect(install.status, install.stderr).toBe(0);
    // One copy of TF.js core in the whole tree (the scaffold pins core's version, so npm dedupes).
    expect(copiesOf(join(plugin, 'node_modules'), '@tensorflow/tfjs-core')).toEqual([join(plugin, 'node_modules/@tensorflow/tfjs-core')]);
    expect(copiesOf(join(plugin, 'node_modules'), '@unlearn-bench/core')).toEqual([join(plugin, 'node_modules/@unlearn-bench/core')]);
    const sqlite = dirname(createRequire(join(root, 'packages/core/package.json')).resolve('better-sqlite3/package.json'));
    const installedSqlite = join(plugin, 'node_modules/better-sqlite3');
    expect(JSON.parse(readFileSync(join(installedSqlite, 'package.json'), 'utf8')).version).toBe(JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')).version);
    mkdirSync(join(installedSqlite, 'build/Release'), { recursive: true });
    copyFileSync(join(sqlite, 'build/Release/better_sqlite3.node'), join(installedSqlite, 'build/Release/better_sqlite3.node'));
    expect(existsSync(join(plugin, 'node_modules/@unlearn-bench/core/src'))).toBe(false);

    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const key of Object.keys(env)) if (key.startsWith('npm_') || key === 'NODE_OPTIONS') delete env[key];
    // The scaffold's `npm test`: its test, the conformance suite (with options) and a typecheck,
    // against the installed core.
    const test = spawnSync('npm', ['test'], { cwd: plugin, encoding: 'utf8', env });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/Test Files\s+2 passed \(2\)/);
    expect(test.stdout).toContain('> tsc -p tsconfig.json');
    expect(test.stdout + test.stderr).not.toContain('Platform node has already been set');

    // A consumer's TypeScript compiles against the published declarations (plugin authoring API).
    copyFileSync(join(import.meta.dirname, 'fixtures/pack/consumer.ts.txt'), join(plugin, 'consumer.ts'));
    writeFileSync(
      join(plugin, 'tsconfig.consumer.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: ['consumer.ts'] }),
    );
    // Library checking stays on so our .d.ts files are checked too; TF.js's own declarations fail
    // TypeScript's strict checks (TS2411 in tfjs-layers) whoever consumes them, so those are set aside.
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(plugin, 'tsconfig.consumer.json')], { encoding: 'utf8' });
    const diagnostics = (tsc.stdout + tsc.stderr).split('\n').filter((line) => /error TS\d+/.test(line));
    expect(diagnostics.filter((line) => !line.includes('node_modules/@tensorflow/'))).toEqual([]);

    writeFileSync(
      join(plugin, 'manifest.json'),
      JSON.stringify({
        name: 'pack-test',
        plugins: ['@unlearn-bench/plugin-salun', './'],
        seeds: [1, 2],
        dataset: { use: 'core/mnist', options: { trainSize: 600, testSize: 300 } },
        model: { use: 'core/mlp', options: { hidden: [32] } },
        training: { epochs: 2, batchSize: 32, learningRate: 0.05, momentum: 0.9 },
        attacks: [{ use: 'core/gaussian', options: { count: 30, sigma: 1 } }],
        unlearners: [{ use: 'core/none' }, { use: 'salun/salun' }, { use: 'my-method/my-method', options: { lrScale: 2 } }],
        budgets: [0.1],
        metrics: [{ use: 'core/accuracy' }],
      }),
    );
    const bin = join(plugin, 'node_modules/.bin/unlearn-bench');
    expect(existsSync(bin)).toBe(true);
    // two seeds over two worker processes: the installed bin also starts its workers from dist/
    const run = spawnSync(bin, ['run', 'manifest.json', '--out', 'out', '--workers', '2'], { cwd: plugin, encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('over 2 worker processes');
    expect(run.stderr).not.toContain('warning:');
    expect(run.stderr).not.toContain('Platform node has already been set');
    expect(run.stdout).toContain('my-method/my-method');
    // `list --manifest` shows what the manifest loads
    const list = spawnSync(bin, ['list', 'unlearner', '--manifest', 'manifest.json'], { cwd: plugin, encoding: 'utf8', env });
    expect(list.stdout).toContain('  unlearn-bench-plugin-my-method 0.1.0 (namespace my-method): my-method/my-method');
    const rows = readFileSync(join(plugin, 'out/results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { unlearner: string; metric: string; value: number });
    const salun = rows.filter((row) => row.unlearner === 'salun/salun' && row.metric === 'accuracy');
    expect(salun).toHaveLength(2);
    for (const row of salun) expect(row.value).toBeGreaterThan(0.5);
    expect(run.stdout).toContain('salun/salun');
    // The run used the installed, compiled packages: nothing of the workspace is reachable from here.
    expect(relative(root, plugin).startsWith('..')).toBe(true);
    expect(execFileSync(process.execPath, ['-e', "console.log(import.meta.resolve('@unlearn-bench/core'))", '--input-type=module'], { cwd: plugin, encoding: 'utf8' })).toContain(
      join(plugin, 'node_modules/@unlearn-bench/core/dist/index.js'),
    );
  }, 600_000);
});
