/**
 * The runner's own count of an unlearner's compute, so that the budget does not rest on the
 * plugin's meter alone. The model handed to the unlearner, every clone derived from it and every
 * model built by the factory it gets are wrapped so that their `logits` calls are seen; while the
 * unlearner runs, the engine's `gradients` (which every `tf.grad`, `tf.variableGrads`,
 * `tf.valueAndGrad` and optimizer goes through) is wrapped too. The rule is the project's budget
 * rule (packages/unlearners/README.md, "Compute budget: what counts"): a `logits` call counts its
 * batch when it runs inside a gradient computation and its output lies on a path from the
 * differentiated tensors (parameters, or inputs) to the differentiated value: the example's loss
 * is differentiated through that model. A forward pass off that path (SCRUB's frozen teacher, an
 * evaluation) does not count. One input tensor counts once per model and gradient computation,
 * however often that model's `logits` sees it there.
 *
 * What it cannot see: a plugin that rebuilds the forward pass from raw weights (`getWeights()` into
 * its own variables) instead of calling `logits`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClassifierModel, LogitsOptions } from '../model.ts';
import type { ModelFactory } from '../plugin/types.ts';
import type { Rng } from '../rng.ts';

/** Counts examples through forward + backward passes of the models it hands out. */
export interface ComputeCounter {
  /** Examples counted so far. */
  readonly examples: number;
  /** `model` with its `logits` (and those of its clones) counted. */
  model(model: ClassifierModel): ClassifierModel;
  /** `factory` whose built models are counted. */
  factory(factory: ModelFactory): ModelFactory;
  /** The model a counted wrapper stands for (any other value is returned as is). */
  unwrap(model: ClassifierModel): ClassifierModel;
  /** Runs `fn` with gradient computations watched; for a promise, until it settles. */
  run<T>(fn: () => T): T;
}

interface LogitsCall {
  readonly counter: Counter;
  /** One id per wrapped model instance. */
  readonly model: number;
  readonly input: number;
  readonly output: number;
  readonly batch: number;
}

/** One gradient computation in progress: what it differentiates and the counted logits seen in it. */
interface GradientFrame {
  readonly xs: readonly tf.Tensor[];
  readonly calls: LogitsCall[];
}

interface TapeNode {
  readonly inputs: Readonly<Record<string, tf.Tensor>>;
  readonly outputs: readonly tf.Tensor[];
}

type GradientsFn = (f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean) => { value: tf.Tensor; grads: tf.Tensor[] };

interface EngineInternals {
  gradients: GradientsFn;
  readonly state: { readonly activeTape: readonly TapeNode[] | null };
}

const frames: GradientFrame[] = [];
let active = 0;
let restore: (() => void) | undefined;

/** Wraps the engine's `gradients` (once, however many counters run). */
function install(): void {
  if (active++ > 0) return;
  const eng = tf.engine() as unknown as EngineInternals;
  const own = Object.prototype.hasOwnProperty.call(eng, 'gradients');
  const previous = eng.gradients;
  eng.gradients = function (this: EngineInternals, f, xs, dy, allowNoGradients) {
    const frame: GradientFrame = { xs, calls: [] };
    frames.push(frame);
    try {
      const counted = () => {
        const y = f();
        if (frame.calls.length > 0 && typeof y?.id === 'number') settle(frame, this.state.activeTape ?? [], y);
        return y;
      };
      return previous.call(this, counted, xs, dy, allowNoGradients);
    } finally {
      frames.pop();
    }
  };
  restore = () => {
    if (own) eng.gradients = previous;
    else delete (eng as Partial<EngineInternals>).gradients;
  };
}

function uninstall(): void {
  if (--active > 0) return;
  restore?.();
  restore = undefined;
}

/** Credits every logits call of `frame` whose output lies on a path xs → y of the recorded tape. */
function settle(frame: GradientFrame, tape: readonly TapeNode[], y: tf.Tensor): void {
  const fromXs = new Set(frame.xs.map((x) => x.id));
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromXs.has(t.id))) for (const out of node.outputs) fromXs.add(out.id);
  }
  const toY = new Set([y.id]);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((t) => toY.has(t.id))) for (const input of Object.values(node.inputs)) toY.add(input.id);
  }
  const seen = new Set<string>();
  for (const call of frame.calls) {
    if (!fromXs.has(call.output) || !toY.has(call.output)) continue;
    const key = `${call.model}:${call.input}`;
    if (seen.has(key)) continue;
    seen.add(key);
    call.counter.used += call.batch;
  }
}

let modelIds = 0;

class Counter implements ComputeCounter {
  used = 0;
  private readonly targets = new WeakMap<object, ClassifierModel>();

  get examples(): number {
    return this.used;
  }

  model(model: ClassifierModel): ClassifierModel {
    if (this.targets.has(model)) return model;
    const id = ++modelIds;
    const bound = new Map<PropertyKey, unknown>();
    const logits = (inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D => {
      const output = model.logits(inputs, options);
      const frame = frames.at(-1);
      if (frame) frame.calls.push({ counter: this, model: id, input: inputs.id, output: output.id, batch: inputs.shape[0] ?? 1 });
      return output;
    };
    const clone = (): ClassifierModel => this.model(model.clone());
    const proxy = new Proxy(model, {
      get: (target, property) => {
        if (property === 'logits') return logits;
        if (property === 'clone') return clone;
        // Its own backward passes would bypass the count: inputGradients and trainSgd then take the tape.
        if (property === 'inputLossGradient' || property === 'lossGradients') return undefined;
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== 'function') return value;
        if (!bound.has(property)) bound.set(property, (value as (...args: unknown[]) => unknown).bind(target));
        return bound.get(property);
      },
    });
    this.targets.set(proxy, model);
    return proxy;
  }

  factory(factory: ModelFactory): ModelFactory {
    const build = (rng: Rng) => this.model(factory.build(rng));
    return factory.tokenInputs ? { build, tokenInputs: factory.tokenInputs } : { build };
  }

  unwrap(model: ClassifierModel): ClassifierModel {
    return this.targets.get(model) ?? model;
  }

  run<T>(fn: () => T): T {
    install();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      uninstall();
      throw error;
    }
    if (result instanceof Promise) return result.finally(uninstall) as T;
    uninstall();
    return result;
  }
}

/** A new counter at 0. */
export function createComputeCounter(): ComputeCounter {
  return new Counter();
}

/**
 * Why the counted compute is not acceptable, or undefined when it is: more than `limit`, or more
 * than the plugin's own meter reported (`reported`, compute hidden from it).
 */
export function computeProblem(counted: number, reported: number, limit: number): string | undefined {
  const rule = 'every example whose loss is differentiated through the model counts 1';
  if (counted > limit) return `the runner counted ${counted} examples through forward+backward passes of the model it was given (and its clones), over the budget of ${limit} (${rule})`;
  if (counted > reported) {
    return `the runner counted ${counted} examples through forward+backward passes of the model it was given (and its clones), but ctx.meter reports ${reported}: spend every such example on ctx.meter (${rule})`;
  }
  return undefined;
}

/** Whether two models have exactly the same weights. */
export function sameWeights(a: ClassifierModel, b: ClassifierModel): boolean {
  const x = a.getWeights();
  const y = b.getWeights();
  return x.length === y.length && x.every((w, i) => w.length === y[i].length && w.every((v, j) => Object.is(v, y[i][j])));
}
