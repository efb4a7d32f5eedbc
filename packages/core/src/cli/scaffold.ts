/**
 * `unlearn-bench new-plugin <kind> <name>`: writes a working plugin package (one contribution of
 * the kind, a behaviour test, the kind's conformance suite, a README) that depends only on
 * @unlearn-bench/core. `npm test` runs the tests and a typecheck; every import is declared.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { API_VERSION } from '../plugin/types.ts';

/** Core's own package.json (the same relative path from src/cli and dist/cli). */
const CORE = createRequire(import.meta.url)('../../package.json') as { version: string; dependencies: Record<string, string>; peerDependencies?: Record<string, string> };
/**
 * The TF.js version core pins. The generated package's development copies of tfjs-core and
 * tfjs-backend-cpu pin the same one, so npm keeps a single tfjs-core in its tree.
 */
const TFJS_VERSION = CORE.dependencies['@tensorflow/tfjs-core'];

/** Kinds the scaffold can write. */
export const SCAFFOLD_KINDS = ['unlearner', 'metric', 'attack'] as const;

/** A kind the scaffold can write. */
export type ScaffoldKind = (typeof SCAFFOLD_KINDS)[number];

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

function source(kind: ScaffoldKind, id: string, namespace: string): string {
  const header = `/**\n * ${namespace}/${id}: describe the method here and cite its paper (title, arXiv link).\n */\n`;
  if (kind === 'unlearner') {
    return `${header}import { API_VERSION, definePlugin, defineUnlearner, trainSgd } from '@unlearn-bench/core';

/** Options of \`${namespace}/${id}\`. */
export interface Options {
  /** Learning-rate multiplier over the training recipe's. @default 1 */
  readonly lrScale: number;
}

/** Fine-tunes a copy of the model on the retain set until the budget is spent. Replace with your method. */
export const unlearner = defineUnlearner<Options>({
  id: '${id}',
  description: 'Fine-tunes on the retain set within the budget (a starting point: replace with your method).',
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      lrScale: { type: 'number', exclusiveMinimum: 0, default: 1, description: "Learning-rate multiplier over the training recipe's." },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, retain, training }) {
        const copy = model.clone(); // never mutate the given model
        const maxExamples = ctx.meter.remaining; // the budget, in examples through forward+backward
        trainSgd(copy, retain, {
          ...training,
          learningRate: training.learningRate * options.lrScale,
          epochs: Math.ceil(maxExamples / retain.count) + 1,
          maxExamples,
          rng: ctx.rng,
          meter: ctx.meter,
        });
        return copy;
      },
    };
  },
});

export default definePlugin({
  meta: { name: 'unlearn-bench-plugin-${id}', version: '0.1.0', namespace: '${namespace}', apiVersion: API_VERSION },
  unlearners: [unlearner],
});
`;
  }
  if (kind === 'metric') {
    return `${header}import { accuracy, API_VERSION, defineMetric, definePlugin } from '@unlearn-bench/core';

/** Accuracy on the forget set (the poisons) under their own labels. Replace with your metric. */
export const metric = defineMetric<Record<string, never>>({
  id: '${id}',
  description: 'Accuracy on the forget set under its own labels (a starting point: replace with your metric).',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      compute({ model, poisons }) {
        return { value: accuracy(model, poisons), details: { examples: poisons.count } };
      },
    };
  },
});

export default definePlugin({
  meta: { name: 'unlearn-bench-plugin-${id}', version: '0.1.0', namespace: '${namespace}', apiVersion: API_VERSION },
  metrics: [metric],
});
`;
  }
  return `${header}import { API_VERSION, Artifacts, createExamples, defineAttack, definePlugin, selectExamples, splitIndices } from '@unlearn-bench/core';

/** Options of \`${namespace}/${id}\`. */
export interface Options {
  /** Number of poisons. @default 50 */
  readonly count: number;
  /** Label every poison gets. @default 0 */
  readonly target: number;
}

/** Relabels \`count\` random training points to \`target\`. Replace with your attack. */
export const attack = defineAttack<Options>({
  id: '${id}',
  description: 'Relabels count random training points to the target class (a starting point: replace with your attack).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: 'integer', minimum: 1, default: 50, description: 'Number of poisons.' },
      target: { type: 'integer', minimum: 0, default: 0, description: 'Label every poison gets.' },
    },
  },
  create(options, ctx) {
    return {
      poison({ data }) {
        const { chosen, rest } = splitIndices(data.train.count, options.count, ctx.rng);
        const picked = selectExamples(data.train, chosen);
        const labels = new Int32Array(picked.count).fill(options.target);
        return {
          clean: selectExamples(data.train, rest), // S: the retrained model trains on this
          poisons: createExamples(picked.inputs, labels, picked.inputShape, picked.texts), // P: the forget set
          artifacts: new Artifacts(), // records your metrics need
        };
      },
    };
  },
});

export default definePlugin({
  meta: { name: 'unlearn-bench-plugin-${id}', version: '0.1.0', namespace: '${namespace}', apiVersion: API_VERSION },
  attacks: [attack],
});
`;
}

function testSource(kind: ScaffoldKind, id: string, namespace: string): string {
  const coreImports = { unlearner: 'createRng', metric: 'Artifacts, createBudgetMeter, createRng, trainSgd', attack: '' }[kind];
  const contribution = { unlearner: 'unlearner', metric: 'metric', attack: 'attack' }[kind];
  const common = `import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ${coreImports ? `${coreImports}, ` : ''}type DatasetSplit } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, linearModel } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { ${contribution} } from './index.ts';

const training = { epochs: 5, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
let data: DatasetSplit;

beforeAll(async () => {
  await tf.setBackend('cpu');
  data = await blobsDataset.create({ trainSize: 200, testSize: 100, dimension: 8, separation: 3 }, createTestContext(1)).load();
});

const factory = () => linearModel.create({}, { inputShape: [8], numClasses: 4 }, createTestContext());
`;
  if (kind === 'unlearner') {
    return `${common}
describe('${namespace}/${id}', () => {
  it('returns a new model, spends its whole budget and leaves the input untouched', async () => {
    const model = factory().build(createRng(2));
    const before = model.getWeights();
    const ctx = createTestContext(3, 100);
    const worker = unlearner.create({ lrScale: 1 }, ctx);
    const result = await worker.unlearn({ model, forget: data.test, retain: data.train, training, models: factory() });
    expect(result).not.toBe(model);
    expect(ctx.meter.used).toBe(100);
    expect(model.getWeights()).toEqual(before);
    result.dispose();
    model.dispose();
  });
});
`;
  }
  if (kind === 'metric') {
    return `${common}
describe('${namespace}/${id}', () => {
  it('is high for a model trained on the points and low for an untrained one', async () => {
    const trained = factory().build(createRng(2));
    trainSgd(trained, data.train, { ...training, rng: createRng(3), meter: createBudgetMeter() });
    const untrained = factory().build(createRng(4));
    const worker = metric.create({}, createTestContext());
    const value = async (model: typeof trained) => {
      const result = await worker.compute({
        model, role: 'poisoned', data, clean: data.train, poisons: data.train, artifacts: new Artifacts(),
        references: { poisoned: model, retrained: model }, cost: { examples: 0, seconds: 0, retrainExamples: 1, retrainSeconds: 1 },
      });
      return (Array.isArray(result) ? result[0] : result).value;
    };
    expect(await value(trained)).toBeGreaterThan(0.9);
    expect(await value(untrained)).toBeLessThan(0.6);
    trained.dispose();
    untrained.dispose();
  });
});
`;
  }
  return `${common}
describe('${namespace}/${id}', () => {
  it('splits the training set into clean points and relabelled poisons', async () => {
    const result = await attack.create({ count: 20, target: 1 }, createTestContext(5)).poison({ data, models: factory(), training });
    expect(result.poisons.count).toBe(20);
    expect(result.clean.count).toBe(data.train.count - 20);
    expect([...result.poisons.labels].every((y) => y === 1)).toBe(true);
  });
});
`;
}

/** The conformance suite of the kind, run with options (core's contract every built-in passes). */
function conformanceSource(kind: ScaffoldKind): string {
  const call = {
    unlearner: 'describeUnlearnerConformance(unlearner, { options: { lrScale: 2 } });',
    metric: 'describeMetricConformance(metric);',
    attack: 'describeAttackConformance(attack, { options: { count: 10, target: 1 } });',
  }[kind];
  const suite = { unlearner: 'describeUnlearnerConformance', metric: 'describeMetricConformance', attack: 'describeAttackConformance' }[kind];
  return `// The contract every built-in ${kind} passes (options schema, determinism, no tensor leaks${kind === 'unlearner' ? ', the budget as the runner counts it' : ''}, …).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ${suite} } from '@unlearn-bench/core/testing';
import { beforeAll } from 'vitest';
import { ${kind} } from './index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

${call}
`;
}

/** Writes the package; returns its folder. Refuses to overwrite an existing folder. */
export function scaffoldPlugin(kind: string, name: string, parent: string): string {
  if (!SCAFFOLD_KINDS.includes(kind as ScaffoldKind)) throw new UsageError(`new-plugin: kind must be one of ${SCAFFOLD_KINDS.join(', ')}, got '${kind}'.`);
  if (!NAME.test(name)) throw new UsageError(`new-plugin: name must be kebab-case (e.g. 'my-method'), got '${name}'.`);
  const packageName = `unlearn-bench-plugin-${name}`;
  const dir = resolve(parent, packageName);
  if (existsSync(dir)) throw new UsageError(`new-plugin: ${dir} already exists.`);
  const namespace = name;
  mkdirSync(join(dir, 'src'), { recursive: true });
  const coreRange = `^${CORE.version}`;
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(
      {
        name: packageName,
        version: '0.1.0',
        description: `An unlearn-bench ${kind} plugin.`,
        type: 'module',
        // The source condition lets unlearn-bench load src/ while you develop (no build step); the
        // published tarball ships dist/ only and loads from `default`.
        exports: { '.': { '@unlearn-bench/source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' } },
        types: './dist/index.d.ts',
        files: ['dist', 'README.md'],
        scripts: { build: 'tsc -p tsconfig.build.json', prepack: 'npm run build', test: 'vitest run && npm run typecheck', typecheck: 'tsc -p tsconfig.json' },
        keywords: ['unlearn-bench-plugin'],
        // The host's single copy of core and TF.js is used (docs/PLUGINS.md §1 and §7).
        peerDependencies: { '@unlearn-bench/core': coreRange, '@tensorflow/tfjs-core': `^${TFJS_VERSION}` },
        // Development copies: core and the CLI to test and run manifests; TF.js pinned to core's
        // version so that npm installs one tfjs-core.
        devDependencies: {
          '@tensorflow/tfjs-backend-cpu': TFJS_VERSION,
          '@tensorflow/tfjs-core': TFJS_VERSION,
          '@types/node': '^20.19.43',
          '@unlearn-bench/cli': coreRange,
          '@unlearn-bench/core': coreRange,
          typescript: '^5.9.3',
          vitest: CORE.peerDependencies?.vitest ?? '^4.1.12',
        },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          verbatimModuleSyntax: true,
          experimentalDecorators: true,
          skipLibCheck: true,
          types: ['node'],
        },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
    'tsconfig.build.json': `${JSON.stringify(
      {
        extends: './tsconfig.json',
        compilerOptions: { noEmit: false, declaration: true, rewriteRelativeImportExtensions: true, rootDir: 'src', outDir: 'dist' },
        include: ['src'],
        exclude: ['src/**/*.test.ts'],
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n',
    'vitest.config.ts': `import { defineConfig } from 'vitest/config';\n\n// Separate processes suit TF.js's global engine; training in tests can take a while.\nexport default defineConfig({ test: { include: ['src/**/*.test.ts'], pool: 'forks', testTimeout: 120_000 } });\n`,
    'src/index.ts': source(kind as ScaffoldKind, name, namespace),
    'src/index.test.ts': testSource(kind as ScaffoldKind, name, namespace),
    'src/conformance.test.ts': conformanceSource(kind as ScaffoldKind),
    'README.md': `# ${packageName}\n\nAn unlearn-bench ${kind} (\`${namespace}/${name}\`, plugin API ${API_VERSION}).\n\nUse it from a manifest:\n\n\`\`\`json\n{ "plugins": ["${packageName}"] }\n\`\`\`\n\n\`npm test\` runs its tests, core's conformance suite for ${kind}s, and a typecheck. Until @unlearn-bench/core is on npm, install core and the CLI from a checkout first (docs/PLUGINS.md §1). While you develop, unlearn-bench loads \`src/\` directly (the \`@unlearn-bench/source\` export condition). \`npm pack\` and \`npm publish\` compile it to \`dist/\` (JavaScript and declarations) first, and only \`dist/\` is published.\n`,
  };
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}
