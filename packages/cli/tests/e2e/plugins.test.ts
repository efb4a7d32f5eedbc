/** Manifests that name extra plugins: loaded from paths or packages; clear errors when they fail. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

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
