/**
 * `validate` checks what the dataset's declared size makes impossible (issue 20), without loading
 * any data: train + test (+ validation) above what the dataset holds, an attack count that leaves
 * no clean training point (or a fraction that makes no poison), and budgets too small to buy one
 * minibatch (a warning; the manifest stays valid). And it says that it runs plugin code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runInProcess, writeManifest } from './helpers.ts';

function manifest(dataset: object, attack: object, budgets: number[] = [0.1], training: object = { epochs: 1, batchSize: 50, learningRate: 0.01 }): string {
  return writeManifest({
    name: 'sizes',
    seeds: [1],
    dataset,
    model: { use: 'core/mlp', options: { hidden: [8] } },
    training,
    attacks: [attack],
    unlearners: [{ use: 'core/gd' }],
    budgets,
    metrics: [{ use: 'core/accuracy' }],
  });
}

const gaussian = { use: 'core/gaussian', options: { count: 10 } };

async function problems(path: string): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await runInProcess(['validate', path]);
  return { code, stderr: stderr.replace(`Invalid manifest ${path}`, 'Invalid manifest M').replaceAll(`${path}: `, 'M: ') };
}

describe('validate with dataset sizes', () => {
  it('refuses train + test + validation above what core/mnist holds', async () => {
    expect(await problems(manifest({ use: 'core/mnist', options: { trainSize: 9000, testSize: 2000 } }, gaussian))).toEqual({
      code: 2,
      stderr: 'error: Invalid manifest M:\n  - dataset.options: core/mnist holds 10,000 examples, but these options ask for 11,000 (train 9,000 + test 2,000). Lower the sizes to 10,000 in all.\n',
    });
    const withValidation = await problems(manifest({ use: 'core/mnist', options: { trainSize: 8000, testSize: 1500, validationSize: 1000 } }, gaussian));
    expect(withValidation.stderr).toContain('but these options ask for 10,500 (train 8,000 + test 1,500 + validation 1,000).');
    expect((await problems(manifest({ use: 'core/mnist', options: { trainSize: 8000, testSize: 2000 } }, gaussian))).code).toBe(0);
  });

  it('refuses the same for core/spam-assassin, whose size is declared too', async () => {
    const path = writeManifest({
      name: 'sizes-text',
      seeds: [1],
      dataset: { use: 'core/spam-assassin', options: { trainSize: 5000, testSize: 2000 } },
      model: { use: 'core/text-bow' },
      training: { epochs: 1, batchSize: 50, learningRate: 0.01 },
      attacks: [{ use: 'core/label-flip', options: { count: 10 } }],
      unlearners: [{ use: 'core/gd' }],
      metrics: [{ use: 'core/accuracy' }],
    });
    expect((await problems(path)).stderr).toContain('dataset.options: core/spam-assassin holds 6,046 examples, but these options ask for 7,000 (train 5,000 + test 2,000).');
  });

  it('refuses an attack count that leaves no clean training point, and a fraction that makes no poison', async () => {
    const data = { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } };
    expect(await problems(manifest(data, { use: 'core/gaussian', options: { count: 200 } }))).toEqual({
      code: 2,
      stderr: 'error: Invalid manifest M:\n  - attacks[0].options.count: 200 poisons from a training set of 200 (core/synthetic-images with these options) leaves no clean point. Choose count in 1..199.\n',
    });
    expect((await problems(manifest(data, { use: 'core/label-flip', options: { fraction: 0.001 } }))).stderr).toBe(
      'error: Invalid manifest M:\n  - attacks[0].options.fraction: 0.001 of a training set of 200 rounds to no poison. Raise fraction to at least 0.0025, or set count.\n',
    );
  });

  it('warns of budgets that buy less than one minibatch, and stays valid', async () => {
    const data = { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } };
    const { code, stderr } = await problems(manifest(data, gaussian, [0.5, 0.1, 0.001], { epochs: 1, batchSize: 50, learningRate: 0.01 }));
    expect(code).toBe(0);
    expect(stderr).toBe(
      'warning: M: budgets[1]: 0.1 of retraining (at most 1 epoch(s) × 200 examples = 200) buys at most 20 example(s), less than one minibatch of 50: budgeted unlearners take at most one partial step. Raise the budget, or train on more examples.\n' +
        'warning: M: budgets[2]: 0.001 of retraining (at most 1 epoch(s) × 200 examples = 200) buys no example at all: budgeted unlearners cannot take a step. Raise the budget, or train on more examples.\n',
    );
  });

  it('says in the READMEs that it runs the plugins a manifest names (no sandbox)', () => {
    const flat = (readme: string) => readFileSync(join(repoRoot, readme), 'utf8').replace(/\s+/g, ' ');
    expect(flat('packages/cli/README.md')).toContain('`validate` imports and runs the plugins the manifest names');
    expect(flat('packages/cli/README.md')).toContain('it is not a sandbox, so validate only manifests you trust.');
    expect(flat('README.md')).toContain('`validate` runs the code of the plugins a manifest names');
    expect(flat('README.md')).toContain('it is not a sandbox, so validate only manifests you trust.');
  });
});
