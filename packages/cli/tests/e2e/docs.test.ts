/** Every TypeScript sample in docs/PLUGINS.md compiles against the real core, and runs with its options. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runInProcess, tempDir, writeManifest } from './helpers.ts';

const dir = mkdtempSync(join(resolve(import.meta.dirname), '.tmp-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/PLUGINS.md', () => {
  it('has TypeScript samples that type-check', () => {
    const text = readFileSync(join(repoRoot, 'docs/PLUGINS.md'), 'utf8');
    const samples = [...text.matchAll(/```ts file=([\w.-]+)\n([\s\S]*?)```/g)];
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const [, file, code] of samples) writeFileSync(join(dir, file), code);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(repoRoot, 'tsconfig.base.json'), compilerOptions: { noEmit: true, noUnusedLocals: true }, include: ['*.ts'] }),
    );
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('has conformance samples that pass with their options, and a test sample that passes', () => {
    const text = readFileSync(join(repoRoot, 'docs/PLUGINS.md'), 'utf8');
    const samples = [...text.matchAll(/```ts file=([\w.-]+)\n([\s\S]*?)```/g)];
    for (const [, file, code] of samples) writeFileSync(join(dir, file), code);
    const conformance = samples.map(([, file]) => file).filter((file) => file.endsWith('.conformance.test.ts'));
    expect(conformance).toHaveLength(5);
    // The backend the unlearner sample selects, for the samples that leave it out for brevity.
    writeFileSync(join(dir, 'cpu-backend.ts'), "import '@tensorflow/tfjs-backend-cpu';\nimport * as tf from '@tensorflow/tfjs-core';\nawait tf.setBackend('cpu');\n");
    writeFileSync(join(dir, 'samples.test.ts'), "import { it } from 'vitest';\nimport { checkMyMethod } from './my-method.test.ts';\n\nit('runs the section 4 test sample', () => checkMyMethod());\n");
    writeFileSync(
      join(dir, 'vitest.config.ts'),
      `export default { test: { include: [${[...conformance, 'samples.test.ts'].map((f) => JSON.stringify(f)).join(', ')}], setupFiles: ['./cpu-backend.ts'], pool: 'forks', testTimeout: 120000 } };\n`,
    );
    const vitest = join(repoRoot, 'node_modules/vitest/vitest.mjs');
    const result = spawnSync(process.execPath, [vitest, 'run', '--reporter=verbose'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Test Files\s+6 passed \(6\)/);
    // the options reach the suites: their titles name them
    expect(result.stdout).toContain('my-method {"lrScale":2}');
  });

  it('has a summary-metric sample that runs from a manifest and prints its table', async () => {
    const text = readFileSync(join(repoRoot, 'docs/PLUGINS.md'), 'utf8');
    const code = text.match(/```ts file=progress-metric\.ts\n([\s\S]*?)```/)![1];
    const file = join(dir, 'progress-run.ts');
    writeFileSync(file, code);
    const manifest = writeManifest({
      name: 'docs-progress',
      plugins: [file],
      seeds: [1, 2],
      dataset: { use: 'core/synthetic-images', options: { shape: [6, 6, 1], trainSize: 300, testSize: 100 } },
      model: { use: 'core/mlp', options: { hidden: [16] } },
      training: { epochs: 4, batchSize: 32, learningRate: 0.05 },
      attacks: [{ use: 'core/gaussian', options: { count: 20 } }],
      unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/gd' }],
      budgets: [0.2],
      metrics: [{ use: 'core/accuracy' }, { use: 'my-lab/progress', options: { metrics: ['accuracy'] } }],
    });
    const out = tempDir();
    const { code: exit, stdout, stderr } = await runInProcess(['run', manifest, '--out', out, '--quiet', '--workers', '1']);
    expect(stderr).toBe('');
    expect(exit).toBe(0);
    expect(stdout).toContain('progress to retrain, gaussian: 0 = as poisoned, 1 = as retrained (means over seeds)');
    const lines = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unlearner: string; metric: string; mean: number; progress?: number });
    const at = (unlearner: string) => lines.find((l) => l.unlearner === unlearner && l.metric === 'accuracy')!;
    // the field the sample exports is its formula applied to the means, recomputed here
    expect(at('gd').progress).toBeCloseTo((at('gd').mean - at('none').mean) / (at('retrain').mean - at('none').mean), 10);
  });
});
