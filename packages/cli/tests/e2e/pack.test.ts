/**
 * Publishing, tested the way an outsider meets it: `npm pack` every package of ours and the
 * example plugin, install the tarballs into a fresh folder outside the workspace (offline, from the
 * npm cache), type-check a consumer against the shipped `.d.ts`, and run a manifest that loads the
 * plugin with the installed `unlearn-bench` command, which then runs compiled JavaScript only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockfileForTarballs, type Lockfile, type PackedPackage } from './pack-lockfile.ts';

const root = resolve(import.meta.dirname, '../../../..');
/** In dependency order, so each `prepack` build finds its references built. */
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
  for (const dir of PACKAGES) {
    const result = npm(['pack', '--json', '--pack-destination', join(app, 'tarballs')], join(root, dir));
    if (result.status !== 0) throw new Error(`npm pack in ${dir} failed:\n${result.stderr}`);
    const [info] = JSON.parse(result.stdout.slice(result.stdout.indexOf('['))) as PackJson[];
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as PackedPackage['manifest'];
    packed.push({ workspacePath: dir, manifest, tarball: `tarballs/${info.filename}`, integrity: info.integrity, files: info.files.map((f) => f.path) });
  }
}, 600_000);

afterAll(() => rmSync(app, { recursive: true, force: true }));

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

  it('installs outside the workspace offline, type-checks a consumer, and runs a manifest with the plugin from compiled code', () => {
    const workspaceLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
    const { dependencies, lockfile } = lockfileForTarballs(workspaceLock, packed, 'pack-test');
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'pack-test', version: '0.0.0', private: true, type: 'module', dependencies }, null, 2)}\n`);
    writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
    // Install scripts are skipped (offline they could not download anything anyway); the one native
    // addon the run needs, better-sqlite3's, is copied from the workspace's build of the same version.
    const install = npm(['ci', '--offline', '--ignore-scripts'], app);
    expect(install.status, install.stderr).toBe(0);
    const sqlite = dirname(createRequire(join(root, 'packages/core/package.json')).resolve('better-sqlite3/package.json'));
    const installedSqlite = join(app, 'node_modules/better-sqlite3');
    expect(JSON.parse(readFileSync(join(installedSqlite, 'package.json'), 'utf8')).version).toBe(JSON.parse(readFileSync(join(sqlite, 'package.json'), 'utf8')).version);
    mkdirSync(join(installedSqlite, 'build/Release'), { recursive: true });
    copyFileSync(join(sqlite, 'build/Release/better_sqlite3.node'), join(installedSqlite, 'build/Release/better_sqlite3.node'));
    expect(existsSync(join(app, 'node_modules/@unlearn-bench/core/src'))).toBe(false);

    // A consumer's TypeScript compiles against the published declarations (plugin authoring API).
    copyFileSync(join(import.meta.dirname, 'fixtures/pack/consumer.ts.txt'), join(app, 'consumer.ts'));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: ['consumer.ts'] }),
    );
    // Library checking stays on so our .d.ts files are checked too; TF.js's own declarations fail
    // TypeScript's strict checks (TS2411 in tfjs-layers) whoever consumes them, so those are set aside.
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' });
    const diagnostics = (tsc.stdout + tsc.stderr).split('\n').filter((line) => /error TS\d+/.test(line));
    expect(diagnostics.filter((line) => !line.includes('node_modules/@tensorflow/'))).toEqual([]);

    writeFileSync(
      join(app, 'manifest.json'),
      JSON.stringify({
        name: 'pack-test',
        plugins: ['@unlearn-bench/plugin-salun'],
        seeds: [1, 2],
        dataset: { use: 'core/mnist', options: { trainSize: 600, testSize: 300 } },
        model: { use: 'core/mlp', options: { hidden: [32] } },
        training: { epochs: 2, batchSize: 32, learningRate: 0.05, momentum: 0.9 },
        attacks: [{ use: 'core/gaussian', options: { count: 30, sigma: 1 } }],
        unlearners: [{ use: 'core/none' }, { use: 'salun/salun' }],
        budgets: [0.1],
        metrics: [{ use: 'core/accuracy' }],
      }),
    );
    const bin = join(app, 'node_modules/.bin/unlearn-bench');
    expect(existsSync(bin)).toBe(true);
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const key of Object.keys(env)) if (key.startsWith('npm_') || key === 'NODE_OPTIONS') delete env[key];
    // two seeds over two worker processes: the installed bin also starts its workers from dist/
    const run = spawnSync(bin, ['run', 'manifest.json', '--out', 'out', '--workers', '2'], { cwd: app, encoding: 'utf8', env });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('over 2 worker processes');
    const rows = readFileSync(join(app, 'out/results.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { unlearner: string; metric: string; value: number });
    const salun = rows.filter((row) => row.unlearner === 'salun/salun' && row.metric === 'accuracy');
    expect(salun).toHaveLength(2);
    for (const row of salun) expect(row.value).toBeGreaterThan(0.5);
    expect(run.stdout).toContain('salun/salun');
    // The run used the installed, compiled packages: nothing of the workspace is reachable from here.
    expect(relative(root, app).startsWith('..')).toBe(true);
    expect(execFileSync(process.execPath, ['-e', "console.log(import.meta.resolve('@unlearn-bench/core'))", '--input-type=module'], { cwd: app, encoding: 'utf8' })).toContain(
      join(app, 'node_modules/@unlearn-bench/core/dist/index.js'),
    );
  }, 600_000);
});
