/** `unlearn-bench new-plugin`: the generated package passes its own test and runs from a manifest. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

// Inside the repository, so the generated package resolves @unlearn-bench/core like an installed one.
const parent = mkdtempSync(join(resolve(import.meta.dirname), '.tmp-scaffold-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

describe('unlearn-bench new-plugin', () => {
  it.each(['unlearner', 'metric', 'attack'])('writes a %s package whose test passes', async (kind) => {
    const { code, stdout } = await runInProcess(['new-plugin', kind, `my-${kind}`, '--out', parent]);
    expect(code).toBe(0);
    const dir = join(parent, `unlearn-bench-plugin-my-${kind}`);
    expect(stdout).toContain(`Created ${dir}`);
    const vitest = resolve(import.meta.dirname, '../../../../node_modules/vitest/vitest.mjs');
    const result = spawnSync(process.execPath, [vitest, 'run'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    // its own test and core's conformance suite for the kind
    expect(result.stdout + result.stderr).toMatch(/Test Files\s+2 passed \(2\)/);
    expect(result.stdout).toContain(`src/conformance.test.ts`);
    expect(result.status).toBe(0);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; scripts: Record<string, string>; peerDependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.scripts.test).toBe('vitest run && npm run typecheck');
    expect(pkg.peerDependencies).toEqual({ '@unlearn-bench/core': '^0.1.0', '@tensorflow/tfjs-core': '^4.22.0' });
    // every package its sources import is declared
    const imported = new Set<string>();
    for (const file of ['src/index.ts', 'src/index.test.ts', 'src/conformance.test.ts', 'vitest.config.ts']) {
      for (const [, specifier] of readFileSync(join(dir, file), 'utf8').matchAll(/(?:from|import)\s+'([^'.][^']*)'/g)) imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
    }
    expect([...imported].filter((name) => !(name in pkg.devDependencies) && !(name in pkg.peerDependencies))).toEqual([]);
    // meta.name is the package name
    expect(readFileSync(join(dir, 'src/index.ts'), 'utf8')).toContain(`meta: { name: '${pkg.name}',`);
    const tsc = resolve(import.meta.dirname, '../../../../node_modules/typescript/bin/tsc');
    // the typecheck `npm test` runs after the tests
    const typecheck = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    expect(typecheck.stdout + typecheck.stderr).toBe('');
    // and it builds to what it will publish: JavaScript and declarations, against core's declarations
    // (one kind is enough: the build differs from the typecheck only in emitting)
    if (kind !== 'unlearner') return;
    const build = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.build.json')], { encoding: 'utf8' });
    expect(build.stdout + build.stderr).toBe('');
    expect(existsSync(join(dir, 'dist/index.js')) && existsSync(join(dir, 'dist/index.d.ts'))).toBe(true);
    expect(existsSync(join(dir, 'dist/index.test.js'))).toBe(false);
  });

  it('runs a generated unlearner from a manifest', async () => {
    const dir = join(parent, 'unlearn-bench-plugin-my-unlearner');
    const manifest = writeManifest({
      name: 'scaffolded',
      plugins: [dir],
      seeds: [1],
      dataset: { use: 'core/synthetic-images', options: { shape: [6, 6, 1], trainSize: 200, testSize: 50 } },
      model: { use: 'core/mlp', options: { hidden: [8] } },
      training: { epochs: 3, batchSize: 32, learningRate: 0.05 },
      attacks: [{ use: 'core/gaussian', options: { count: 10 } }],
      unlearners: [{ use: 'my-unlearner/my-unlearner' }],
      budgets: [0.2],
      metrics: [{ use: 'core/accuracy' }],
    });
    const { code, stdout } = await runInProcess(['run', manifest, '--out', tempDir(), '--quiet', '--workers', '1']);
    expect(code).toBe(0);
    expect(stdout).toContain('my-unlearner/my-unlearner');
  });

  it('refuses bad kinds, bad names and existing folders', async () => {
    expect((await runInProcess(['new-plugin', 'model', 'x', '--out', parent])).stderr).toBe("error: new-plugin: kind must be one of unlearner, metric, attack, got 'model'.\n");
    expect((await runInProcess(['new-plugin', 'metric', 'My_Metric', '--out', parent])).code).toBe(2);
    expect((await runInProcess(['new-plugin', 'unlearner', 'my-unlearner', '--out', parent])).stderr).toMatch(/already exists/);
  });
});
