import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, runBin, runInProcess, writeManifest } from './helpers.ts';

const quickstart = JSON.parse(readFileSync(join(repoRoot, 'manifests/quickstart.json'), 'utf8')) as Record<string, unknown>;

/** Every .json manifest under `dir`, relative paths, recursively. */
function manifestFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix)).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry}` : entry;
    if (statSync(join(dir, relative)).isDirectory()) return manifestFiles(dir, relative);
    return entry.endsWith('.json') ? [relative] : [];
  });
}

/** The quickstart manifest with `change` applied to a deep copy. */
function variant(change: (m: Record<string, any>) => void): Record<string, unknown> {
  const copy = structuredClone(quickstart) as Record<string, any>;
  delete copy.$schema;
  change(copy);
  return copy;
}

async function validate(content: string | object): Promise<{ code: number; stderr: string; stdout: string }> {
  return runInProcess(['validate', writeManifest(content)]);
}

/** The problem lines of an invalid-manifest error, without the temp path. */
function problems(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('  - ')).map((line) => line.slice(4));
}

describe('unlearn-bench validate', () => {
  it('accepts the quickstart manifest', async () => {
    const { code, stdout } = await runInProcess(['validate', join(repoRoot, 'manifests/quickstart.json')]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/quickstart\.json: valid \(quickstart; 2 seed × attack group\(s\), manifest hash [0-9a-f]{12}\)/);
  });

  it.each(manifestFiles(join(repoRoot, 'manifests')))('accepts the shipped manifest %s', async (file) => {
    const { code, stderr } = await runInProcess(['validate', join(repoRoot, 'manifests', file)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  const cases: [string, string | object, string[]][] = [
    ['bad JSON', '{\n  "name": "x"\n  "seeds": [1]\n}', ["line 3, column 3: invalid JSON: Expected ',' or '}' after property value. Check for a missing comma, quote or bracket there."]],
    ['an unknown unlearner', variant((m) => (m.unlearners[2].use = 'core/gdd')), ["unlearners[2].use: Unknown unlearner 'core/gdd'. Did you mean 'core/gd'?"]],
    ['an unknown dataset', variant((m) => (m.dataset.use = 'core/imagenet')), ['dataset.use: Unknown dataset \'core/imagenet\'. Known datasets: core/cifar10, core/cifar100, core/image-folder, core/mnist, core/spam-assassin, core/synthetic-images, core/text-file.']],
    ['a near miss of a dataset', variant((m) => (m.dataset.use = 'core/cifar-10')), ["dataset.use: Unknown dataset 'core/cifar-10'. Did you mean 'core/cifar10'?"]],
    ['a wrong type', variant((m) => (m.seeds = '1')), ['seeds: expected array, got the string "1". (Seeds to repeat the whole experiment with; results are reported as mean ± std over them.)']],
    ['a non-integer seed', variant((m) => (m.seeds = [1.5])), ['seeds[0]: expected integer, got number 1.5.']],
    ['an extra top-level key', variant((m) => { m.seed = m.seeds; delete m.seeds; }), ["seeds: missing required property 'seeds'.", "seed: unknown property 'seed'. Did you mean 'seeds'? Expected properties: $schema, name, description, plugins, seeds, backend, dataset, model, training, attacks, unlearners, budgets, metrics, cellTimeout, selection."]],
    ['an unknown plugin option', variant((m) => (m.unlearners[3].options = { lr: 0.1 })), ["unlearners[3].options.lr: unknown property 'lr'. Did you mean 'learningRate'? Expected properties: learningRate, batchSize, momentum, optimizer, weightDecay, nesterov, decoupledWeightDecay, betas, eps, schedule, augment."]],
    ['an out-of-range training value', variant((m) => (m.training.momentum = 1.5)), ['training.momentum: must be < 1, got number 1.5. (SGD momentum (sgd only; adam and adamw use betas).)']],
    ['a missing required field', variant((m) => delete m.model), ["model: missing required property 'model'."]],
    ['a budget above 1', variant((m) => (m.budgets = [0.05, 1.5])), ['budgets[1]: must be <= 1, got number 1.5.']],
    ['a negative attack option', variant((m) => (m.attacks[0].options.sigma = -1)), ['attacks[0].options.sigma: must be > 0, got number -1. (Noise standard deviation σ.)']],
    ['a wrongly typed plugin option', variant((m) => (m.unlearners[3].options = { learningRate: 'fast' })), ['unlearners[3].options.learningRate: expected number or null, got the string "fast". (Learning rate; null uses the training recipe’s.)']],
    ['two entries with one label', variant((m) => m.unlearners.push({ use: 'core/gd' })), ["unlearners[4]: label 'gd' is already used by unlearners[3]. Give one of them a distinct \"label\"."]],
    ['no attacks', variant((m) => (m.attacks = [])), ['attacks: must have at least 1 item(s). (Poisoning attacks; each gets its own poisoned and retrained models.)']],
    ['an unknown backend', variant((m) => (m.backend = 'gpu')), ['backend: must be one of "auto", "wasm", "cpu", "tensorflow", got the string "gpu". Did you mean \'cpu\'? (Tensor backend; \'auto\' tries tensorflow (if installed), then wasm, then cpu. --backend overrides it.)']],
    ['a malformed plugin key', variant((m) => (m.metrics[0].use = 'Accuracy')), ['metrics[0].use: the string "Accuracy" does not match the pattern ^[a-z][a-z0-9]*(-[a-z0-9]+)*/[a-z][a-z0-9]*(-[a-z0-9]+)*$. (Plugin key \'namespace/id\', e.g. \'core/gd\'.)']],
    ['an unknown model option', variant((m) => (m.model.options = { hiden: [10] })), ["model.options.hiden: unknown property 'hiden'. Did you mean 'hidden'? Expected properties: hidden."]],
  ];

  it.each(cases)('rejects %s with exit 2 and the manifest path', async (_name, content, expected) => {
    const { code, stderr } = await validate(content);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: Invalid manifest /);
    expect(problems(stderr)).toEqual(expected);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('reports a missing file', async () => {
    const { code, stderr } = await runInProcess(['validate', '/nonexistent/manifest.json']);
    expect(code).toBe(2);
    expect(stderr).toBe('error: Invalid manifest /nonexistent/manifest.json:\n  - (root): file not found.\n');
  });

  it('exits 2 on usage errors', async () => {
    expect((await runInProcess(['validate'])).code).toBe(2);
    expect((await runInProcess(['frobnicate'])).stderr).toBe("error: Unknown command 'frobnicate'. Commands: run, worker, validate, list, report, repair, new-plugin. Run 'unlearn-bench --help'.\n");
    expect((await runInProcess(['run', 'x.json', '--backend', 'gpu'])).stderr).toBe("error: --backend must be one of auto, wasm, cpu, tensorflow, got 'gpu'.\n");
  });

  it('prints messages, not stack traces, from the real bin; --debug adds the stack', async () => {
    const path = writeManifest(variant((m) => (m.unlearners[2].use = 'core/gdd')));
    const plain = await runBin(['validate', path]).done;
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain("unlearners[2].use: Unknown unlearner 'core/gdd'. Did you mean 'core/gd'?");
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await runBin(['validate', path, '--debug']).done;
    expect(debug.code).toBe(2);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('unlearn-bench list', () => {
  it('lists every built-in plugin with its options', async () => {
    const { code, stdout } = await runInProcess(['list']);
    expect(code).toBe(0);
    for (const key of ['core/mnist', 'core/synthetic-images', 'core/mlp', 'core/cnn-small', 'core/gaussian', 'core/none', 'core/retrain', 'core/gd', 'core/accuracy', 'core/gus', 'core/verdict', 'core/null-test', 'core/retrain-replica']) {
      expect(stdout).toContain(`  ${key}  `);
    }
    expect(stdout).toContain('      sigma: number = 1  Noise standard deviation σ.');
    expect(stdout).toContain('      requires: input-gradients');
    expect(stdout).toContain('      scope: summary (computed once after the run from the other metrics over seeds; applied with its defaults when a manifest does not list it)');
    expect(stdout).toContain('      alpha: number = 0.05  Significance level of the difference tests (after correction) and of the equivalence tests (TOST: the 1 − 2α interval inside ±margin).');
  });
});

describe('docs/plugins.md', () => {
  it('matches `unlearn-bench list --markdown` (regenerate it after changing a plugin)', async () => {
    const { code, stdout } = await runInProcess(['list', '--markdown']);
    expect(code).toBe(0);
    expect(readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8')).toBe(stdout);
  });
});
