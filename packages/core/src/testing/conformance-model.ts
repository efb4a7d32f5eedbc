/**
 * The conformance suite of models: the options schema, then models built for a small shape — the
 * same seed gives the same weights and another seed other ones, logits are `[n, numClasses]` and
 * finite, the declared capabilities work (`parameters`, `layers`, `input-gradients`), clones are
 * equal and independent, weights round-trip through getWeights/setWeights, nothing leaks, and a
 * text model's featurizer gives deterministic, finite features of its declared shape.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { exampleSize } from '../data.ts';
import { crossEntropy, crossEntropyPerExample } from '../training.ts';
import { TOKEN_PADDING, type ClassifierModel, type TokenInputs } from '../model.ts';
import type { Featurizer, ModelDefinition, ModelFactory, ModelShape } from '../plugin/types.ts';
import { createRng } from '../rng.ts';
import {
  describeGroups,
  ensure,
  ensureNoLeak,
  liveTensors,
  runGroups,
  sameValue,
  schemaChecks,
  suiteTitle,
  validOptions,
  type ConformanceGroup,
  type ConformanceProblem,
  type ConformanceRunOptions,
} from './conformance-common.ts';
import { createTestContext } from './index.ts';

/** How `describeModelConformance` exercises a model. */
export interface ModelConformanceOptions<O> {
  /** Name of the suite in the test report. @default the id, followed by the options if given */
  readonly title?: string;
  /** Options to run with; the schema's defaults fill the rest. @default {} */
  readonly options?: ConformanceRunOptions<O>;
  /** Shape the factory is created for. @default { inputShape: [8], numClasses: 4 } */
  readonly shape?: ModelShape;
  /** Texts for the featurizer checks (models with `createFeaturizer`). @default four short sentences */
  readonly texts?: readonly string[];
  /** Why the featurizer cannot be checked here (e.g. it needs files absent offline); skips its checks. */
  readonly skipFeaturizer?: string;
}

const TEXTS: readonly string[] = ['the plot was great', 'an awful, boring movie', 'great acting and a good plot', ''];

/**
 * Whether `a` and `b` agree within 10⁻⁵ of the larger one's largest magnitude (a model's own backward
 * pass may add in another order than the tape; core/mlp's adds in the same, so its values are equal).
 */
function closeTo(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= 1e-5 * scale)) return false;
  return true;
}

/** Defines a vitest suite checking that `definition` honours the model contract. */
export function describeModelConformance<O>(definition: ModelDefinition<O>, conformance: ModelConformanceOptions<O> = {}): void {
  describeGroups(modelConformanceGroups(definition, conformance));
}

/** Runs the model conformance checks without vitest's collection; returns the failed ones. */
export function checkModel<O>(definition: ModelDefinition<O>, conformance: ModelConformanceOptions<O> = {}): Promise<ConformanceProblem[]> {
  return runGroups(modelConformanceGroups(definition, conformance));
}

/**
 * `n` inputs of `shape`, the same for every call: values in [0, 1), or for token models
 * (`tokens`) rows of random token ids of random lengths 1..maxLength (the first row full), padded,
 * without noise.
 */
function sampleInputs(shape: ModelShape, n: number, tokens?: TokenInputs): tf.Tensor {
  const rng = createRng(99);
  if (!tokens) return tf.tensor(Float32Array.from({ length: n * exampleSize(shape.inputShape) }, () => rng.next()), [n, ...shape.inputShape]);
  const size = exampleSize(shape.inputShape);
  const rows = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    const length = i === 0 ? tokens.maxLength : 1 + rng.int(tokens.maxLength);
    for (let t = 0; t < size; t++) rows[i * size + t] = t < length ? rng.int(tokens.vocabSize) : t < tokens.maxLength ? TOKEN_PADDING : 0;
  }
  return tf.tensor(rows, [n, ...shape.inputShape]);
}

/** Logits of `model` on the sample inputs, as numbers. */
function logitValues(model: ClassifierModel, shape: ModelShape): Float32Array {
  return tf.tidy(() => model.logits(sampleInputs(shape, 3, model.tokenInputs)).dataSync().slice() as Float32Array);
}

/** The model conformance checks, grouped by fixture. */
export function modelConformanceGroups<O>(definition: ModelDefinition<O>, conformance: ModelConformanceOptions<O> = {}): ConformanceGroup[] {
  const id = suiteTitle(definition, conformance.options, conformance.title);
  const shape: ModelShape = conformance.shape ?? { inputShape: [8], numClasses: 4 };
  const declared = new Set(definition.capabilities);
  let factory: ModelFactory | undefined;
  /** Builds a model with `seed`, runs `use` on it, and disposes it. */
  const withModel = <T>(seed: number, use: (model: ClassifierModel) => T): T => {
    const model = factory!.build(createRng(seed));
    try {
      return use(model);
    } finally {
      model.dispose();
    }
  };

  const groups: ConformanceGroup[] = [
    { title: `${id}: options schema`, checks: schemaChecks(definition, conformance.options, definition.capabilities, 'capabilities') },
    {
      title: `${id}: built models`,
      async setup() {
        await tf.ready();
        factory = definition.create(validOptions<O>(definition, conformance.options), shape, createTestContext(0));
      },
      checks: [
        {
          name: 'builds models of the requested shape with the declared capabilities',
          run() {
            withModel(1, (model) => {
              ensure(sameValue([...model.inputShape], [...shape.inputShape]), `model.inputShape is [${model.inputShape.join(', ')}], requested [${shape.inputShape.join(', ')}]`);
              ensure(model.numClasses === shape.numClasses, `model.numClasses is ${model.numClasses}, requested ${shape.numClasses}`);
              ensure(sameValue([...model.capabilities].sort(), [...declared].sort()), `model.capabilities [${[...model.capabilities].join(', ')}] differ from the definition's [${[...declared].join(', ')}]`);
            });
          },
        },
        {
          name: 'gives identical weights for the same seed and other weights for another',
          run() {
            const a = withModel(1, (m) => m.getWeights());
            const b = withModel(1, (m) => m.getWeights());
            const c = withModel(2, (m) => m.getWeights());
            ensure(sameValue(a, b), 'two models built with the same seed have different weights; draw initial values only from the rng given to build()');
            ensure(!sameValue(a, c), 'models built with seeds 1 and 2 have identical weights; draw initial values from the rng given to build()');
          },
        },
        {
          name: 'returns finite logits of shape [n, numClasses] that the caller owns',
          run() {
            withModel(1, (model) => {
              const inputs = sampleInputs(shape, 3, model.tokenInputs);
              const before = liveTensors();
              const logits = model.logits(inputs);
              const created = liveTensors() - before;
              const logitsShape = [...logits.shape];
              const values = logits.dataSync().slice();
              tf.dispose([logits, inputs]);
              ensure(sameValue(logitsShape, [3, shape.numClasses]), `logits of 3 inputs have shape [${logitsShape.join(', ')}], expected [3, ${shape.numClasses}]`);
              ensure(created === 1, `logits() left ${created} new tensors alive; it must return one tensor and dispose the rest (tf.tidy)`);
              ensure(values.every(Number.isFinite), 'logits are not all finite');
            });
          },
        },
        {
          name: 'clones are equal and independent; weights round-trip through getWeights/setWeights',
          run() {
            withModel(1, (model) => {
              const copy = model.clone();
              try {
                ensure(sameValue(copy.getWeights(), model.getWeights()), 'clone() has weights different from the original');
                ensure(sameValue(logitValues(copy, shape), logitValues(model, shape)), 'clone() gives logits different from the original');
                const other = withModel(2, (m) => m.getWeights());
                const original = model.getWeights();
                copy.setWeights(other);
                ensure(sameValue(copy.getWeights(), other), 'getWeights() after setWeights(w) does not return w');
                ensure(sameValue(model.getWeights(), original), 'setWeights() on a clone changed the original; clones must not share variables');
                ensure(!sameValue(logitValues(copy, shape), logitValues(model, shape)), 'logits did not change after setWeights() with other weights');
                copy.setWeights(original);
                ensure(sameValue(logitValues(copy, shape), logitValues(model, shape)), 'setWeights(getWeights()) of the original does not reproduce its logits');
              } finally {
                copy.dispose();
              }
            });
          },
        },
        {
          name: 'training-mode logits update buffers (batch-norm statistics) and evaluation-mode logits do not',
          run() {
            withModel(1, (model) => {
              const inputs = sampleInputs(shape, 4, model.tokenInputs);
              try {
                const before = model.getWeights();
                const evaluated = model.logits(inputs);
                evaluated.dispose();
                ensure(sameValue(model.getWeights(), before), 'logits() in evaluation mode changed the model state');
                const live = liveTensors();
                const trained = model.logits(inputs, { training: true });
                const created = liveTensors() - live;
                const values = trained.dataSync().slice();
                trained.dispose();
                ensure(created === 1, `logits(x, { training: true }) left ${created} new tensors alive; it must return one tensor and dispose the rest`);
                ensure(values.every(Number.isFinite), 'training-mode logits are not all finite');
                const after = model.getWeights();
                const count = model.parameters().length;
                ensure(sameValue(after.slice(0, count), before.slice(0, count)), 'logits(x, { training: true }) changed trainable parameters');
                if ((model.buffers?.() ?? []).length > 0) ensure(!sameValue(after, before), 'logits(x, { training: true }) left every buffer unchanged; training mode must update running statistics');
              } finally {
                inputs.dispose();
              }
            });
          },
        },
        {
          name: "supports 'parameters': variables in getWeights() order, each with a finite gradient",
          skip: declared.has('parameters') ? undefined : "does not declare 'parameters'",
          run() {
            withModel(1, (model) => {
              const parameters = model.parameters();
              ensure(parameters.length > 0, "parameters() is empty although the model declares 'parameters'");
              const weights = model.getWeights();
              const buffers = model.buffers?.() ?? [];
              ensure(
                weights.length === parameters.length + buffers.length,
                `getWeights() has ${weights.length} arrays for ${parameters.length} parameters and ${buffers.length} buffers`,
              );
              parameters.forEach((v, i) => {
                ensure(v instanceof tf.Variable, `parameters()[${i}] is not a tf.Variable`);
                ensure(weights[i].length === v.size, `getWeights()[${i}] has ${weights[i].length} values, parameters()[${i}] has ${v.size}`);
              });
              buffers.forEach((v, i) => {
                ensure(!parameters.includes(v), `buffers()[${i}] (${v.name}) is also a parameter; buffers are state that optimizers do not update`);
                ensure(weights[parameters.length + i].length === v.size, `getWeights()[${parameters.length + i}] has ${weights[parameters.length + i].length} values, buffers()[${i}] has ${v.size}`);
              });
              const grads = tf.tidy(() => {
                const inputs = sampleInputs(shape, 3, model.tokenInputs);
                const { grads: g } = tf.variableGrads(() => tf.sum(tf.square(model.logits(inputs))) as tf.Scalar, parameters as tf.Variable[]);
                return parameters.map((v) => (g[v.name] ? g[v.name].dataSync().slice() : undefined));
              });
              ensure(grads.every((g) => g !== undefined && g.every(Number.isFinite)), 'a parameter has no finite gradient of the logits');
              ensure(grads.some((g) => g!.some((x) => x !== 0)), 'every parameter gradient of the logits is zero');
            });
          },
        },
        {
          name: "supports 'layers': named layers whose parameters are model parameters, re-initialised one at a time",
          skip: declared.has('layers') ? undefined : "does not declare 'layers'",
          run() {
            withModel(1, (model) => {
              const layers = model.layers();
              ensure(layers.length > 0, "layers() is empty although the model declares 'layers'");
              const names = layers.map((l) => l.name);
              ensure(new Set(names).size === names.length && names.every((n) => typeof n === 'string' && n.length > 0), `layer names must be unique and non-empty, got [${names.join(', ')}]`);
              if (declared.has('parameters')) {
                const all = new Set(model.parameters());
                ensure(layers.every((l) => l.parameters.length > 0 && l.parameters.every((p) => all.has(p))), 'every layer must list some of the variables of parameters()');
              }
              const last = layers[layers.length - 1];
              const before = last.parameters.map((p) => p.dataSync().slice());
              const others = layers.slice(0, -1).flatMap((l) => l.parameters.map((p) => p.dataSync().slice()));
              last.reinitialize(createRng(5));
              const drawn = last.parameters.map((p) => p.dataSync().slice());
              ensure(!sameValue(drawn, before), `reinitialize() of layer ${last.name} left its parameters unchanged`);
              ensure(sameValue(layers.slice(0, -1).flatMap((l) => l.parameters.map((p) => p.dataSync().slice())), others), `reinitialize() of layer ${last.name} changed other layers`);
              last.reinitialize(createRng(5));
              ensure(sameValue(last.parameters.map((p) => p.dataSync().slice()), drawn), `reinitialize() of layer ${last.name} with the same seed gave other values`);
            });
          },
        },
        {
          name: "supports 'input-gradients': finite, non-zero gradients of the logits with respect to the inputs",
          skip: declared.has('input-gradients') ? undefined : "does not declare 'input-gradients'",
          run() {
            withModel(1, (model) => {
              const tokens = model.tokenInputs;
              ensure(sameValue(tokens, factory!.tokenInputs), 'model.tokenInputs differs from the factory\'s tokenInputs; attacks read the factory\'s');
              // Token models: the gradient is with respect to the token embeddings (embed + logits({ embeddings })).
              const expected = tokens ? [3, ...tokens.embeddingShape] : [3, ...shape.inputShape];
              const { gradShape, values, same } = tf.tidy(() => {
                const inputs = sampleInputs(shape, 3, tokens);
                if (!tokens) {
                  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(model.logits(x))))(inputs);
                  return { gradShape: [...g.shape], values: g.dataSync().slice(), same: true };
                }
                ensure(typeof model.embed === 'function', 'a model with tokenInputs must implement embed(inputs)');
                const embedded = model.embed!(inputs);
                const through = model.logits(inputs, { embeddings: embedded }).dataSync();
                const direct = model.logits(inputs).dataSync();
                const g = tf.grad((e: tf.Tensor) => tf.sum(tf.square(model.logits(inputs, { embeddings: e }))))(embedded);
                return { gradShape: [...g.shape], values: g.dataSync().slice(), same: sameValue(through, direct) };
              });
              ensure(same, 'logits(x, { embeddings: embed(x) }) differs from logits(x)');
              ensure(sameValue(gradShape, expected), `the input gradient has shape [${gradShape.join(', ')}], expected [${expected.join(', ')}]`);
              ensure(values.every(Number.isFinite) && values.some((v) => v !== 0), 'the input gradient is not finite or is all zero');
            });
          },
        },
        {
          name: "its own backward passes (inputLossGradient, lossGradients), where it has them, give the tape's values and leak nothing",
          run() {
            withModel(1, (model) => {
              if (!model.inputLossGradient && !model.lossGradients) return; // neither: nothing to compare
              const labels = Array.from({ length: 5 }, (_, i) => i % shape.numClasses);
              const before = liveTensors();
              if (model.inputLossGradient) {
                const [own, taped] = tf.tidy(() => {
                  const x = sampleInputs(shape, 5, model.tokenInputs);
                  const y = tf.tensor1d(labels, 'int32');
                  const mine = model.inputLossGradient!(x, y);
                  const reference = tf.grad((input: tf.Tensor) => crossEntropyPerExample(model.logits(input), y))(x, tf.ones([5]));
                  return [mine.dataSync().slice(), reference.dataSync().slice()];
                });
                ensure(closeTo(own, taped), 'inputLossGradient differs from tf.grad of the per-example cross-entropy summed');
              }
              if (model.lossGradients) {
                const parameters = model.parameters();
                const [own, taped, ownLoss, tapedLoss] = tf.tidy(() => {
                  const x = sampleInputs(shape, 5, model.tokenInputs);
                  const y = tf.tensor1d(labels, 'int32');
                  const mine = model.lossGradients!(x, y);
                  const reference = tf.variableGrads(() => crossEntropy(model.logits(x, { training: true }), y), parameters as tf.Variable[]);
                  const flat = (grads: tf.NamedTensorMap) => parameters.map((v) => (grads[v.name] ? Array.from(grads[v.name].dataSync()) : [Number.NaN])).flat();
                  return [flat(mine.grads), flat(reference.grads), mine.value.dataSync()[0], reference.value.dataSync()[0]];
                });
                ensure(closeTo(own as number[], taped as number[]) && closeTo([ownLoss as number], [tapedLoss as number]), 'lossGradients differs from tf.variableGrads of the mean cross-entropy over parameters()');
              }
              ensureNoLeak(before, 'inputLossGradient / lossGradients');
            });
          },
        },
        {
          name: 'leaks no tensors through build, logits, clone and dispose',
          run() {
            const before = liveTensors();
            withModel(3, (model) => {
              const copy = model.clone();
              logitValues(copy, shape);
              copy.dispose();
              logitValues(model, shape);
            });
            ensureNoLeak(before, 'build() + clone() + logits() + dispose()');
          },
        },
      ],
    },
  ];

  if (definition.createFeaturizer) {
    const createFeaturizer = definition.createFeaturizer.bind(definition);
    const texts = conformance.texts ?? TEXTS;
    const featurize = async (): Promise<{ featureShape: readonly number[]; features: Float32Array }> => {
      const featurizer: Featurizer = await createFeaturizer(validOptions<O>(definition, conformance.options), createTestContext(0));
      try {
        return { featureShape: featurizer.featureShape, features: await featurizer.featurize(texts) };
      } finally {
        featurizer.dispose?.();
      }
    };
    groups.push({
      title: `${id}: featurizer`,
      checks: [
        {
          name: 'gives finite features of featureShape for every text, the same on every run',
          skip: conformance.skipFeaturizer,
          async run() {
            const before = liveTensors();
            const first = await featurize();
            ensureNoLeak(before, 'createFeaturizer() + featurize() + dispose()');
            const size = exampleSize(first.featureShape);
            ensure(first.featureShape.length > 0 && first.featureShape.every((d) => Number.isInteger(d) && d > 0), `featureShape [${first.featureShape.join(', ')}] must be positive integers`);
            ensure(first.features instanceof Float32Array && first.features.length === texts.length * size, `featurize() of ${texts.length} texts gave ${first.features?.length} values, expected ${texts.length} × ${size}`);
            ensure(first.features.every(Number.isFinite), 'features are not all finite');
            const second = await featurize();
            ensure(sameValue(first.features, second.features), 'two featurizers with the same options gave different features');
          },
        },
      ],
    });
  }
  return groups;
}
