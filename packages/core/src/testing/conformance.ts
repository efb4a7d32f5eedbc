/**
 * The conformance suite every unlearner runs (built-in or plugin), in the spirit of ESLint's
 * RuleTester: the options schema compiles with core's shared ajv, defaults validate, a bad option
 * fails with a readable message, the same seed gives the same weights, no tensor leaks, the budget
 * is honoured, the given model is left alone, and only the capabilities in `requires` are used.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgetMeter } from '../budget.ts';
import { concatExamples, selectExamples, type DatasetSplit, type Examples } from '../data.ts';
import type { Capability, ClassifierModel, ModelLayer } from '../model.ts';
import { formatAjvErrors, getOrCreateValidator } from '../plugin/ajv.ts';
import type { ModelDefinition, ModelFactory, TrainingRecipe, UnlearnerDefinition } from '../plugin/types.ts';
import { createRng } from '../rng.ts';
import { trainSgd } from '../training.ts';
import { blobsDataset, createTestContext, linearModel, mlpTestModel } from './index.ts';

/** Which testing-kit model a conformance run uses. */
export type ConformanceModel = 'linear' | 'mlp';

/** How `describeUnlearnerConformance` exercises an unlearner. */
export interface UnlearnerConformanceOptions<O> {
  /** Options to run with; the schema's defaults fill the rest. @default {} */
  readonly options?: Partial<O>;
  /** Budget as a fraction of the retrained model's examples. @default 0.1 */
  readonly budget?: number;
  /** Testing-kit models to run on: softmax regression and a 2-layer MLP. @default ['linear', 'mlp'] */
  readonly models?: readonly ConformanceModel[];
}

const TRAINING: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };
const FORGET_COUNT = 20;
const GATED: readonly Capability[] = ['parameters', 'layers'];

interface Fixture {
  readonly factory: ModelFactory;
  readonly poisoned: ClassifierModel;
  readonly forget: Examples;
  readonly retain: Examples;
  /** The budget in examples: `budget` × what retraining on `retain` uses. */
  readonly limit: number;
}

/** Defines a vitest suite checking that `definition` honours the unlearner contract. */
export function describeUnlearnerConformance<O>(definition: UnlearnerDefinition<O>, conformance: UnlearnerConformanceOptions<O> = {}): void {
  const budget = conformance.budget ?? 0.1;
  const id = conformance.options ? `${definition.id} ${JSON.stringify(conformance.options)}` : definition.id;

  const resolveOptions = (extra: object = {}): { valid: boolean; options: O; errors: ReturnType<typeof formatAjvErrors> } => {
    const validate = getOrCreateValidator(definition.optionsSchema);
    const data = structuredClone({ ...(conformance.options ?? {}), ...extra }) as Record<string, unknown>;
    const valid = validate(data) as boolean;
    return { valid, options: data as O, errors: valid ? [] : formatAjvErrors(validate.errors ?? [], data, 'options') };
  };

  describe(`${id}: options schema`, () => {
    it('compiles with the shared ajv; every property has a description and a default', () => {
      expect(() => getOrCreateValidator(definition.optionsSchema)).not.toThrow();
      expect(definition.optionsSchema.additionalProperties).toBe(false);
      for (const [name, property] of Object.entries(definition.optionsSchema.properties)) {
        expect(property, `property '${name}'`).toHaveProperty('description');
        expect(property, `property '${name}'`).toHaveProperty('default');
      }
    });

    it('accepts its defaults and fills in every property', () => {
      const { valid, options, errors } = resolveOptions();
      expect(errors).toEqual([]);
      expect(valid).toBe(true);
      expect(Object.keys(options as object).sort()).toEqual(Object.keys(definition.optionsSchema.properties).sort());
    });

    it('rejects an unknown or mistyped option with a readable message naming the path', () => {
      const names = Object.keys(definition.optionsSchema.properties);
      const unknown = resolveOptions({ notAnOption: 1 });
      expect(unknown.valid).toBe(false);
      expect(unknown.errors).toContainEqual({ path: 'options.notAnOption', message: `unknown property 'notAnOption'. Expected properties: ${names.join(', ') || '(none)'}.` });
      for (const [name, property] of Object.entries(definition.optionsSchema.properties)) {
        const types = ([] as unknown[]).concat((property as { type?: unknown }).type ?? []);
        if (types.length === 0 || types.includes('string')) continue;
        const bad = resolveOptions({ [name]: 'oops' });
        expect(bad.valid, `options.${name} = "oops"`).toBe(false);
        expect(bad.errors[0]).toMatchObject({ path: `options.${name}`, message: expect.stringMatching(/^expected .+, got the string "oops"\./) });
      }
    });

    it('declares only known capabilities', () => {
      for (const capability of definition.requires ?? []) expect(['parameters', 'input-gradients', 'layers']).toContain(capability);
    });
  });

  for (const modelKind of conformance.models ?? ['linear', 'mlp']) {
    describe(`${id}: contract on the ${modelKind} testing model`, () => {
      let fixture: Fixture;
      const run = (seed: number, model: ClassifierModel = fixture.poisoned) => {
        const ctx = definition.reference === 'retrained' ? createTestContext(seed) : createTestContext(seed, fixture.limit);
        const worker = definition.create(resolveOptions().options, ctx);
        const result = worker.unlearn({ model, forget: fixture.forget, retain: fixture.retain, training: TRAINING, models: fixture.factory });
        if (result instanceof Promise) throw new Error('conformance runs synchronous unlearners only; await support is not implemented');
        if (result === model) throw new Error(`${definition.id} returned the model it was given; return a new model (e.g. model.clone())`);
        return { ctx, worker, result };
      };

      beforeAll(async () => {
        await tf.ready();
        fixture = buildFixture(modelKind === 'linear' ? linearModel : mlpTestModel, budget);
      });
      afterAll(() => fixture?.poisoned.dispose());

      it('returns a new model and leaves the given one bit-identical', () => {
        const before = fixture.poisoned.getWeights();
        const { result, worker } = run(11);
        expect(result).not.toBe(fixture.poisoned);
        expect(fixture.poisoned.getWeights()).toEqual(before);
        expect(result.getWeights().every((w) => w.every(Number.isFinite))).toBe(true);
        result.dispose();
        worker.dispose?.();
      });

      it('gives identical weights for the same seed', () => {
        const weights = () => {
          const { result, worker } = run(12);
          const out = result.getWeights();
          result.dispose();
          worker.dispose?.();
          return out;
        };
        expect(weights()).toEqual(weights());
      });

      it('leaks no tensors', () => {
        const before = tf.memory().numTensors;
        const { result, worker } = run(13);
        result.dispose();
        worker.dispose?.();
        expect(tf.memory().numTensors).toBe(before);
      });

      it.skipIf(definition.reference === 'retrained')('stays within its budget', () => {
        const { ctx, result, worker } = run(14);
        expect(ctx.meter.used).toBeLessThanOrEqual(1.05 * fixture.limit);
        result.dispose();
        worker.dispose?.();
      });

      it('uses only the capabilities it declares in requires', () => {
        const declared = new Set(definition.requires ?? []);
        const restricted = new RestrictedModel(fixture.poisoned.clone(), new Set(GATED.filter((c) => declared.has(c))));
        const { result, worker } = run(15, restricted);
        result.dispose();
        worker.dispose?.();
        restricted.dispose();
      });
    });
  }
}

/** Blobs with 20 label-shifted "poisons" as the forget set, and a model trained on both. */
function buildFixture(model: ModelDefinition<never>, budget: number): Fixture {
  const ctx = createTestContext(1);
  const data = blobsDataset.create({ trainSize: 400, testSize: 40, dimension: 8, separation: 3 }, ctx).load() as DatasetSplit;
  const indices = Int32Array.from({ length: data.train.count }, (_, i) => i);
  const picked = selectExamples(data.train, indices.subarray(0, FORGET_COUNT));
  const forget = { ...picked, labels: picked.labels.map((y) => (y + 1) % data.numClasses) };
  const retain = selectExamples(data.train, indices.subarray(FORGET_COUNT));
  const factory = model.create({ hidden: 16 } as never, { inputShape: data.train.inputShape, numClasses: data.numClasses }, ctx);
  const poisoned = factory.build(createRng(2));
  trainSgd(poisoned, concatExamples(retain, forget), { ...TRAINING, rng: createRng(3), meter: createBudgetMeter() });
  return { factory, poisoned, forget, retain, limit: Math.floor(budget * TRAINING.epochs * retain.count) };
}

/** A model that throws when an undeclared capability is used; clones stay restricted. */
class RestrictedModel implements ClassifierModel {
  constructor(
    private readonly inner: ClassifierModel,
    readonly capabilities: ReadonlySet<Capability>,
  ) {}

  get inputShape(): readonly number[] {
    return this.inner.inputShape;
  }

  get numClasses(): number {
    return this.inner.numClasses;
  }

  logits(inputs: tf.Tensor): tf.Tensor2D {
    return this.inner.logits(inputs);
  }

  parameters(): readonly tf.Variable[] {
    this.check('parameters');
    return this.inner.parameters();
  }

  layers(): readonly ModelLayer[] {
    this.check('layers');
    return this.inner.layers();
  }

  clone(): ClassifierModel {
    return new RestrictedModel(this.inner.clone(), this.capabilities);
  }

  getWeights(): Float32Array[] {
    return this.inner.getWeights();
  }

  setWeights(weights: readonly Float32Array[]): void {
    this.inner.setWeights(weights);
  }

  dispose(): void {
    this.inner.dispose();
  }

  private check(capability: Capability): void {
    if (!this.capabilities.has(capability)) throw new Error(`used the model capability '${capability}' without declaring it in requires`);
  }
}
