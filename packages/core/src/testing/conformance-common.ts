/**
 * Pieces shared by the conformance suites of every contribution kind: checks as plain named
 * functions grouped under a title (so they run inside vitest via `describeGroups`, or directly via
 * `runGroups`, which returns the problems found), the options-schema checks, readable assertions,
 * and a model wrapper that refuses the capabilities a contribution did not declare.
 * Vitest is a peer dependency of this module (testing only).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { exampleSize, type Examples } from '../data.ts';
import type { ManifestIssue } from '../errors.ts';
import { CAPABILITIES, type Capability, type ClassifierModel, type LogitsOptions, type ModelLayer } from '../model.ts';
import { formatAjvErrors, getOrCreateValidator } from '../plugin/ajv.ts';
import type { ContributionBase, ModelDefinition, ModelFactory, ModelShape, TrainingRecipe } from '../plugin/types.ts';
import { createTestContext, linearModel, mlpTestModel } from './index.ts';

/**
 * The options a conformance run takes for a definition whose options type is `O`: part of `O`, or,
 * when TypeScript knows no options type (`never`, as for `plugin.unlearners[0]` of a plugin), any
 * options object. The options schema checks them when the suite runs either way.
 */
export type ConformanceRunOptions<O> = [O] extends [never] ? Readonly<Record<string, unknown>> : Partial<O>;

/** A broken rule of a contribution's contract, thrown by a check. */
export class ConformanceError extends Error {
  override readonly name = 'ConformanceError';
}

/** One named check; it throws (e.g. a ConformanceError) when the contribution breaks the rule. */
export interface ConformanceCheck {
  readonly name: string;
  /** Why the check does not apply to this contribution; the check is then reported as skipped. */
  readonly skip?: string;
  run(): void | Promise<void>;
}

/** Checks sharing one fixture: `setup` runs before the first, `teardown` after the last. */
export interface ConformanceGroup {
  readonly title: string;
  setup?(): void | Promise<void>;
  teardown?(): void | Promise<void>;
  readonly checks: readonly ConformanceCheck[];
}

/** A check that failed: where, and the message it threw. */
export interface ConformanceProblem {
  readonly group: string;
  readonly check: string;
  readonly message: string;
}

/** Registers `groups` as vitest suites: one `describe` per group, one `it` per check. */
export function describeGroups(groups: readonly ConformanceGroup[]): void {
  for (const group of groups) {
    describe(group.title, () => {
      if (group.setup) beforeAll(() => group.setup!());
      if (group.teardown) afterAll(() => group.teardown!());
      for (const check of group.checks) {
        if (check.skip) it.skip(`${check.name} (skipped: ${check.skip})`, () => {});
        else it(check.name, () => check.run());
      }
    });
  }
}

/** Runs `groups` outside vitest's collection and returns every failed check (empty: conformant). */
export async function runGroups(groups: readonly ConformanceGroup[]): Promise<ConformanceProblem[]> {
  const problems: ConformanceProblem[] = [];
  const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
  for (const group of groups) {
    try {
      await group.setup?.();
    } catch (error) {
      problems.push({ group: group.title, check: 'setup', message: message(error) });
      await Promise.resolve(group.teardown?.()).catch(() => {});
      continue;
    }
    for (const check of group.checks) {
      if (check.skip) continue;
      try {
        await check.run();
      } catch (error) {
        problems.push({ group: group.title, check: check.name, message: message(error) });
      }
    }
    try {
      await group.teardown?.();
    } catch (error) {
      problems.push({ group: group.title, check: 'teardown', message: message(error) });
    }
  }
  return problems;
}

/** The name of a suite in the test report: `title`, or the id followed by the options (if any). */
export function suiteTitle(definition: ContributionBase, options: object | undefined, title: string | undefined): string {
  return title ?? (options ? `${definition.id} ${JSON.stringify(options)}` : definition.id);
}

/** Throws a ConformanceError with `message` unless `condition` holds. */
export function ensure(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceError(message);
}

/** Deep equality of plain data: arrays, typed arrays, plain objects, numbers (NaN equals NaN). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b);
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || Array.isArray(a)) {
    if (!(ArrayBuffer.isView(b) || Array.isArray(b)) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameValue(x[i], y[i])) return false;
    return true;
  }
  const keys = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const other = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (keys.length !== other.length) return false;
  return keys.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Tensors alive now, for leak checks. */
export function liveTensors(): number {
  return tf.memory().numTensors;
}

/** Throws unless as many tensors are alive as `before`; `what` names the code that ran. */
export function ensureNoLeak(before: number, what: string): void {
  const after = liveTensors();
  ensure(after === before, `${what} ${after > before ? `leaked ${after - before} tensor(s)` : `disposed ${before - after} tensor(s) it did not own`} (tf.memory().numTensors ${before} → ${after}); wrap tensor code in tf.tidy and dispose what you keep`);
}

/** Options validated and filled with defaults by the definition's schema, plus the readable errors. */
export interface ResolvedOptions<O> {
  readonly valid: boolean;
  readonly options: O;
  readonly errors: ManifestIssue[];
}

/** Validates a copy of `{ ...base, ...extra }` against the definition's schema (filling defaults). */
export function resolveOptions<O>(definition: ContributionBase, base: object | undefined, extra: object = {}): ResolvedOptions<O> {
  const validate = getOrCreateValidator(definition.optionsSchema);
  const data = structuredClone({ ...(base ?? {}), ...extra }) as Record<string, unknown>;
  const valid = validate(data) as boolean;
  return { valid, options: data as O, errors: valid ? [] : formatAjvErrors(validate.errors ?? [], data, 'options') };
}

/** Resolves options that must be valid; throws a readable error otherwise. */
export function validOptions<O>(definition: ContributionBase, base: object | undefined): O {
  const { valid, options, errors } = resolveOptions<O>(definition, base);
  if (!valid) throw new ConformanceError(`the conformance options of ${definition.id} are invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return options;
}

/**
 * The options-schema checks every kind shares: the schema compiles with the shared ajv, has
 * `additionalProperties: false`, every property has a description and a default, the defaults
 * (with `options`) validate and fill every property, and a wrong option gives a readable error.
 * `capabilities` (a contribution's `requires`, or a model's `capabilities`, named `capabilityField`)
 * must be known names; datasets, which have none, omit both.
 */
export function schemaChecks(definition: ContributionBase, options: object | undefined, capabilities?: readonly string[], capabilityField?: string): ConformanceCheck[] {
  const schema = definition.optionsSchema;
  const checks: ConformanceCheck[] = [
    {
      name: 'compiles with the shared ajv; every property has a description and a default',
      run() {
        try {
          getOrCreateValidator(schema);
        } catch (error) {
          throw new ConformanceError(`optionsSchema does not compile with the shared ajv (strict mode): ${(error as Error).message}`);
        }
        ensure(schema.additionalProperties === false, 'optionsSchema must set additionalProperties: false so that misspelt options are reported');
        for (const [name, property] of Object.entries(schema.properties)) {
          ensure('description' in property, `option '${name}' has no description`);
          ensure('default' in property, `option '${name}' has no default`);
        }
      },
    },
    {
      name: 'accepts its defaults and fills in every property',
      run() {
        const { valid, options: filled, errors } = resolveOptions(definition, options);
        ensure(valid, `the defaults${options ? ' with the given options' : ''} do not validate: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
        const missing = Object.keys(schema.properties).filter((name) => !(name in (filled as object)));
        ensure(missing.length === 0, `the defaults leave option(s) ${missing.join(', ')} unset`);
      },
    },
    {
      name: 'rejects an unknown or mistyped option with a readable message naming the path',
      run() {
        const names = Object.keys(schema.properties);
        const unknown = resolveOptions(definition, options, { notAnOption: 1 });
        ensure(!unknown.valid, 'an unknown option notAnOption was accepted');
        const expected = `unknown property 'notAnOption'. Expected properties: ${names.join(', ') || '(none)'}.`;
        ensure(
          unknown.errors.some((e) => e.path === 'options.notAnOption' && e.message === expected),
          `an unknown option gave ${JSON.stringify(unknown.errors)}, expected the message "${expected}"`,
        );
        for (const [name, property] of Object.entries(schema.properties)) {
          const types = ([] as unknown[]).concat((property as { type?: unknown }).type ?? []);
          if (types.length === 0 || types.includes('string')) continue;
          const bad = resolveOptions(definition, options, { [name]: 'oops' });
          ensure(!bad.valid, `options.${name} = "oops" was accepted`);
          ensure(
            bad.errors[0]?.path === `options.${name}` && /^expected .+, got the string "oops"\./.test(bad.errors[0].message),
            `options.${name} = "oops" gave ${JSON.stringify(bad.errors[0])}, expected a message like 'expected number, got the string "oops".'`,
          );
        }
      },
    },
  ];
  if (capabilityField) {
    checks.push({
      name: `declares only known capabilities in ${capabilityField}`,
      run() {
        for (const capability of capabilities ?? []) {
          ensure((CAPABILITIES as readonly string[]).includes(capability), `${capabilityField} names '${capability}'; known capabilities: ${CAPABILITIES.join(', ')}`);
        }
      },
    });
  }
  return checks;
}

/** Capabilities a RestrictedModel can refuse (input gradients go through `logits` and cannot be). */
export const GATED: readonly Capability[] = ['parameters', 'layers'];

/** A model that throws when an undeclared capability is used; clones stay restricted. */
export class RestrictedModel implements ClassifierModel {
  constructor(
    private readonly inner: ClassifierModel,
    readonly capabilities: ReadonlySet<Capability>,
  ) {}

  /** `inner` restricted to the gated capabilities in `declared`. */
  static declaring(inner: ClassifierModel, declared: readonly Capability[] | undefined): RestrictedModel {
    const allowed = new Set(declared ?? []);
    return new RestrictedModel(inner, new Set(GATED.filter((c) => allowed.has(c))));
  }

  get inputShape(): readonly number[] {
    return this.inner.inputShape;
  }

  get numClasses(): number {
    return this.inner.numClasses;
  }

  logits(inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D {
    return this.inner.logits(inputs, options);
  }

  buffers(): readonly tf.Variable[] {
    return this.inner.buffers?.() ?? [];
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

/** A factory whose models are restricted to the gated capabilities in `declared`. */
export function restrictedFactory(factory: ModelFactory, declared: readonly Capability[] | undefined): ModelFactory {
  return { build: (rng) => RestrictedModel.declaring(factory.build(rng), declared) };
}

/** Which testing-kit model a conformance run uses. */
export type ConformanceModel = 'linear' | 'mlp';

/** A testing-kit model by name, or a function making the factory for a shape (e.g. a built-in model). */
export type ConformanceModelChoice = ConformanceModel | ((shape: ModelShape) => ModelFactory);

/** The factory of `choice` for `shape`. */
export function conformanceFactory(choice: ConformanceModelChoice, shape: ModelShape): ModelFactory {
  if (typeof choice === 'function') return choice(shape);
  const definition: ModelDefinition<never> = choice === 'linear' ? linearModel : mlpTestModel;
  return definition.create({ hidden: 16 } as never, shape, createTestContext(0));
}

/** A short training recipe for fixtures. */
export const CONFORMANCE_TRAINING: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };

/**
 * Problems with `examples` as a value: sizes that disagree, labels outside [0, numClasses), values
 * that are not finite, texts that are not row-aligned. `what` names it in messages.
 */
export function examplesProblems(examples: Examples, numClasses: number, what: string, options: { texts?: boolean } = {}): string[] {
  const problems: string[] = [];
  if (!examples || typeof examples !== 'object') return [`${what} is not an Examples value`];
  const size = exampleSize(examples.inputShape);
  if (!(examples.inputs instanceof Float32Array)) problems.push(`${what}.inputs is not a Float32Array`);
  if (!(examples.labels instanceof Int32Array)) problems.push(`${what}.labels is not an Int32Array`);
  if (problems.length > 0) return problems;
  if (!Number.isInteger(examples.count) || examples.count < 0) problems.push(`${what}.count is ${examples.count}`);
  if (examples.labels.length !== examples.count) problems.push(`${what} has ${examples.labels.length} labels for count ${examples.count}`);
  if (examples.inputs.length !== examples.count * size) problems.push(`${what} has ${examples.inputs.length} input values, expected ${examples.count} × ${size} (inputShape [${examples.inputShape.join(', ')}])`);
  const badLabel = examples.labels.findIndex((y) => !(y >= 0 && y < numClasses));
  if (badLabel >= 0) problems.push(`${what}.labels[${badLabel}] = ${examples.labels[badLabel]} is not a class in 0..${numClasses - 1}`);
  const badInput = examples.inputs.findIndex((v) => !Number.isFinite(v));
  if (badInput >= 0) problems.push(`${what}.inputs[${badInput}] = ${examples.inputs[badInput]} is not finite`);
  if (options.texts) {
    if (!examples.texts) problems.push(`${what} has no texts (text data must keep them row-aligned)`);
    else if (examples.texts.length !== examples.count) problems.push(`${what} has ${examples.texts.length} texts for count ${examples.count}`);
    else if (examples.texts.some((t) => typeof t !== 'string')) problems.push(`${what}.texts holds a value that is not a string`);
  }
  return problems;
}

/** Throws a ConformanceError listing `problems`, if any. */
export function ensureNone(problems: readonly string[]): void {
  ensure(problems.length === 0, problems.join('; '));
}

/** One row's identity: the exact bits of its inputs and its text, if any, and (`withLabel`) its label. */
export function rowKeys(examples: Examples, withLabel = true): string[] {
  const size = exampleSize(examples.inputShape);
  const bits = new Uint32Array(examples.inputs.buffer, examples.inputs.byteOffset, examples.inputs.length);
  return Array.from({ length: examples.count }, (_, i) => `${withLabel ? examples.labels[i] : ''}|${examples.texts?.[i] ?? ''}|${bits.subarray(i * size, (i + 1) * size).join(',')}`);
}
