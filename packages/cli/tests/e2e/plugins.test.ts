/** Manifests that name extra plugins: loaded from paths or packages; clear errors when they fail. */
import Database from 'better-sqlite3';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runInProcess, tempDir, writeManifest } from './helpers.ts';

const fixtures = resolve(import.meta.dirname, 'fixtures/plugins');

function manifest(plugins: string[], unlearner = 'lab/scaled-gd') {
  return {
    name: 'plugin-run',
    plugins,
    seeds: [1],
    dataset: { use: 'core/synthetic-images', options: { shape: [6, 6, 1], trainSize: 300, testSize: 100 } },
    model: { use: 'core/mlp', options: { hidden: [16] } },
    training: { epochs: 5, batchSize: 32, learningRate: 0.05 },
    attacks: [{ use: 'core/gaussian', options: { count: 20 } }],
    unlearners: [{ use: unlearner, options: { scale: 3 } }],
    budgets: [0.2],
    metrics: [{ use: 'core/accuracy' }],
  };
}

describe('plugins named by a manifest', () => {
  it('loads a plugin from a path and runs its unlearner within the budget', async () => {
    const out = tempDir();
    const { code, stdout, stderr } = await runInProcess(['run', writeManifest(manifest([join(fixtures, 'scaled-gd.mjs')])), '--out', out, '--quiet', '--workers', '1']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('lab/scaled-gd');
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unlearner: string; examples: number; budgetExamples: number });
    const row = rows.find((r) => r.unlearner === 'lab/scaled-gd')!;
    expect(row.examples).toBe(row.budgetExamples);
    expect(row.budgetExamples).toBe(Math.floor(0.2 * 5 * 280));

    // The same results as markdown tables, from the store.
    const report = await runInProcess(['report', out, '--metrics', 'accuracy', '--markdown']);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^\*\*attack: gaussian   \(mean ± std over 1 seed\)\*\*\n\n\| model \| budget \| accuracy \|\n\|---\|---\|---\|\n\| none \(poisoned\) \| - \| 0\.\d{4} \|/);
    expect(report.stdout).toContain('| lab/scaled-gd | 20% |');
    expect((await runInProcess(['report', out, '--metrics', 'nope'])).stderr).toMatch(/^error: No metric 'nope' in '.*'\. Present: accuracy, accuracy:drop\.\n$/);
  });

  it('fails a cell whose unlearner hides compute from ctx.meter, and warns about one that returns the poisoned model unchanged', async () => {
    const out = tempDir();
    const m = { ...manifest([join(fixtures, 'hidden-compute.mjs')]), unlearners: [{ use: 'lab/private-meter' }, { use: 'lab/copy' }] };
    const { code, stdout, stderr } = await runInProcess(['run', writeManifest(m), '--out', out, '--workers', '1']);
    expect(code).toBe(1);
    const limit = Math.floor(0.2 * 5 * 280);
    expect(stderr).toContain(`lab/private-meter failed in unlearn: the runner counted ${10 * limit} examples through forward+backward passes of the model it was given (and its clones), over the budget of ${limit}`);
    expect(stderr).toContain('lab/copy @ 20%: returned a model identical to the poisoned one');
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unlearner: string; examples: number });
    expect(rows.filter((r) => r.unlearner === 'lab/private-meter')).toEqual([]);
    expect(rows.find((r) => r.unlearner === 'lab/copy')?.examples).toBe(0);
    expect(rows.find((r) => r.unlearner === 'lab/copy')).toMatchObject({ warning: 'returned a model identical to the poisoned one' });
    // The tables say it too, not only the log.
    expect(stdout).toContain('warning: lab/copy @ 20% (gaussian) returned a model identical to the poisoned one on 1 of 1 seed.');
    const summary = readFileSync(join(out, 'summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { unlearner: string; warning?: string });
    expect(summary.find((l) => l.unlearner === 'lab/copy')?.warning).toBe('returned a model identical to the poisoned one on 1 of 1 seed');
  });

  it('keeps a failing cell’s stack trace in the store and prints it with --debug', async () => {
    const out = tempDir();
    const m = { ...manifest([join(fixtures, 'hidden-compute.mjs')]), unlearners: [{ use: 'lab/throws' }] };
    const { code, stderr } = await runInProcess(['run', writeManifest(m), '--out', out, '--debug', '--workers', '1']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/debug: cell .*lab\/throws.*: PluginFailedError: lab\/throws failed in unlearn: boom inside the plugin\n(\s+at .*\n)+caused by: Error: boom inside the plugin\n\s+at .*hidden-compute\.mjs:\d+/);
    const db = new Database(join(out, 'results.db'), { readonly: true });
    const rows = db.prepare('SELECT message, stack FROM failures').all() as { message: string; stack: string }[];
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0].message).toBe('lab/throws failed in unlearn: boom inside the plugin');
    expect(rows[0].stack).toMatch(/caused by: Error: boom inside the plugin\n\s+at .*hidden-compute\.mjs:\d+/);
  });

  it('lists the plugins a manifest loads with list --manifest', async () => {
    const path = writeManifest(manifest([join(fixtures, 'scaled-gd.mjs')]));
    const { code, stdout } = await runInProcess(['list', 'unlearner', '--manifest', path]);
    expect(code).toBe(0);
    expect(stdout.split('\n').slice(0, 3)).toEqual([`plugins loaded by ${path}:`, '  scaled-gd-fixture 1.0.0 (namespace lab): lab/scaled-gd', '']);
    expect(stdout).toContain('  lab/scaled-gd  Gradient descent on the retain set with the learning rate multiplied by scale.\n      requires: parameters\n      scale: number = 2  Learning-rate multiplier.\n');
    expect(stdout).toContain('  core/gd  ');
    expect((await runInProcess(['list', 'unlearner'])).stdout).not.toContain('lab/scaled-gd');
    const missing = await runInProcess(['list', '--manifest', join(tempDir(), 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: --manifest: no file '.*nope\.json'\.\n$/);
  });

  it('warns when a plugin would load a second copy of @tensorflow/tfjs-core, naming both', async () => {
    // Inside the repository, so that the plugin resolves the workspace's @unlearn-bench/core.
    const dir = mkdtempSync(join(import.meta.dirname, '.tmp-duplicate-'));
    try {
      const copy = join(dir, 'node_modules/@tensorflow/tfjs-core');
      mkdirSync(copy, { recursive: true });
      writeFileSync(join(copy, 'package.json'), JSON.stringify({ name: '@tensorflow/tfjs-core', version: '4.22.0', main: 'index.js' }));
      copyFileSync(join(fixtures, 'scaled-gd.mjs'), join(dir, 'plugin.mjs'));
      const path = join(dir, 'manifest.json');
      writeFileSync(path, JSON.stringify(manifest(['./plugin.mjs'])));
      const ours = dirname(realpathSync(createRequire(join(repoRoot, 'packages/core/package.json')).resolve('@tensorflow/tfjs-core/package.json')));
      const { code, stderr } = await runInProcess(['validate', path]);
      expect(code).toBe(0);
      expect(stderr).toBe(
        `warning: plugin './plugin.mjs' resolves its own copy of @tensorflow/tfjs-core (${realpathSync(copy)}), not the one unlearn-bench runs with (${ours}); two copies break instanceof checks and TF.js's engine. Install the plugin's development copies the way docs/PLUGINS.md §1 says, so that npm keeps one (npm ls @tensorflow/tfjs-core shows them).\n`,
      );
      // The fixtures share the workspace's copies: no warning.
      expect((await runInProcess(['validate', writeManifest(manifest([join(fixtures, 'scaled-gd.mjs')]))])).stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validates the plugin’s options like a built-in’s', async () => {
    const bad = manifest([join(fixtures, 'scaled-gd.mjs')]);
    bad.unlearners[0].options = { scale: -1 };
    const { code, stderr } = await runInProcess(['validate', writeManifest(bad)]);
    expect(code).toBe(2);
    expect(stderr).toContain('unlearners[0].options.scale: must be > 0, got number -1. (Learning-rate multiplier.)');
  });

  it.each([
    ['a module without a plugin export', join(fixtures, 'wrong-shape.mjs'), /^error: plugins\[0\]: Plugin '.*wrong-shape\.mjs' \(.*\) does not export a plugin: its default export must be definePlugin\(\{ meta, \.\.\. \}\) from @unlearn-bench\/core\.\n$/],
    ['a plugin for another API version', join(fixtures, 'old-api.mjs'), /^error: Plugin 'old-api-fixture' targets plugin API version 0, but this core implements version 1\.\n$/],
    ['a missing file', join(fixtures, 'nope.mjs'), /^error: plugins\[0\]: Plugin '.*nope\.mjs' failed to load: .*nope\.mjs does not exist\n$/],
    ['a package that is not installed', '@someone/unlearn-bench-plugin-missing', /^error: plugins\[0\]: Plugin '@someone\/unlearn-bench-plugin-missing' failed to load: cannot find package '@someone\/unlearn-bench-plugin-missing' in node_modules above .*; install it \(npm install @someone\/unlearn-bench-plugin-missing\) or give a path starting with \.\/\n$/],
  ])('rejects %s with exit 2 and a message naming it', async (_name, specifier, expected) => {
    const { code, stderr } = await runInProcess(['validate', writeManifest(manifest([specifier]))]);
    expect(code).toBe(2);
    expect(stderr).toMatch(expected);
  });

  it('resolves a relative path from the manifest’s folder', async () => {
    const { code, stdout } = await runInProcess(['validate', join(fixtures, '..', 'relative-plugin.json')]);
    expect(code).toBe(0);
    expect(stdout).toContain('valid');
  });
});
