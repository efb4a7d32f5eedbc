/**
 * Shared training and evaluation loops: minibatch training on softmax cross-entropy with the
 * recipe's optimizer (SGD, Adam, AdamW; see optimizers.ts), accuracy, per-example losses and input
 * gradients. Everything that allocates is tidied.
 */
import * as tf from '@tensorflow/tfjs-core';
import './tf-gradients.ts';
import type { BudgetMeter } from './budget.ts';
import { exampleSize, type Examples } from './data.ts';
import type { Logger } from './logger.ts';
import type { ClassifierModel, LogitsOptions } from './model.ts';
import { createOptimizer, type Optimizer } from './optimizers.ts';
import type { AugmentRecipe, TrainingRecipe } from './plugin/types.ts';
import type { Rng } from './rng.ts';
import { readTensorInto, tensorFilledBy } from './tensor-memory.ts';

/** Inputs of the examples at `indices` (or all) as a tensor `[n, ...inputShape]`. */
export function inputsTensor(examples: Examples, indices?: ArrayLike<number>): tf.Tensor {
  if (!indices) return tf.tensor(examples.inputs, [examples.count, ...examples.inputShape], 'float32');
  // Gathered straight into the tensor's memory where the backend allows (tensor-memory.ts).
  return tensorFilledBy([indices.length, ...examples.inputShape], (buffer) => gatherInto(examples, indices, buffer));
}

/** Copies the inputs of the examples at `indices` into `buffer`, one after another. */
function gatherInto(examples: Examples, indices: ArrayLike<number>, buffer: Float32Array): void {
  const size = exampleSize(examples.inputShape);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    buffer.set(examples.inputs.subarray(j * size, (j + 1) * size), i * size);
  }
}

/**
 * Random crop and flip of `n` images `[height, width, channels]` laid out one after another in
 * `images`, in place: each image is shifted by (dy, dx), both uniform in [−crop, crop] (the view of a
 * crop of the zero-padded image; pixels shifted in from outside are 0), then mirrored left-right
 * with probability 1/2 if `flip`. Draws 2 integers (if crop > 0) and 1 (if flip) per image from `rng`.
 */
export function augmentBatch(images: Float32Array, n: number, shape: readonly number[], augment: AugmentRecipe, rng: Rng): void {
  const [height, width, channels] = shape;
  const crop = augment.crop ?? 0;
  const flip = augment.flip === true;
  const size = height * width * channels;
  const source = new Float32Array(size);
  for (let i = 0; i < n; i++) {
    const dy = crop > 0 ? rng.int(2 * crop + 1) - crop : 0;
    const dx = crop > 0 ? rng.int(2 * crop + 1) - crop : 0;
    const mirror = flip && rng.int(2) === 1;
    if (dy === 0 && dx === 0 && !mirror) continue;
    const image = images.subarray(i * size, (i + 1) * size);
    source.set(image);
    for (let y = 0; y < height; y++) {
      const sy = y + dy;
      for (let x = 0; x < width; x++) {
        const sx = (mirror ? width - 1 - x : x) + dx;
        const to = (y * width + x) * channels;
        if (sy < 0 || sy >= height || sx < 0 || sx >= width) image.fill(0, to, to + channels);
        else image.set(source.subarray((sy * width + sx) * channels, (sy * width + sx + 1) * channels), to);
      }
    }
  }
}

/** The recipe's augmentation if it does anything; throws if it is set for inputs that are not images. */
function activeAugment(augment: AugmentRecipe | undefined, inputShape: readonly number[]): AugmentRecipe | undefined {
  if (!augment || (!(augment.crop ?? 0) && !augment.flip)) return undefined;
  if (inputShape.length !== 3) {
    throw new RangeError(`training.augment (crop, flip) applies to images [height, width, channels]; these inputs have shape [${inputShape.join(', ')}]. Remove "augment" from the training recipe.`);
  }
  return augment;
}

/** Labels of the examples at `indices` (or all) as an int32 tensor `[n]`. */
export function labelsTensor(examples: Examples, indices?: ArrayLike<number>): tf.Tensor1D {
  if (!indices) return tf.tensor1d(examples.labels, 'int32');
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = examples.labels[indices[i]];
  return tf.tensor1d(out, 'int32');
}

/**
 * A kernel a backend may register for the per-example softmax cross-entropy: inputs `logits`
 * (float32 `[n, c]`) and `labels` (int32 `[n]`), output `loss` `[n]` = log Σⱼ exp(zⱼ − m) − (z_label − m)
 * with m the row's maximum (0 for a label outside 0 … c−1). Its gradient (registered here, for any
 * backend) runs SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL where registered, else ordinary ops.
 */
export const SOFTMAX_CROSS_ENTROPY_KERNEL = 'UnlearnBenchSoftmaxCrossEntropy';

/**
 * A kernel a backend may register for the gradient of SOFTMAX_CROSS_ENTROPY_KERNEL: inputs `logits`,
 * `labels`, `dy` (`[n]`), output (softmax(logits) − onehot(labels)) · dy per row (0 for a label
 * outside the classes). Its own gradient (second order) is registered here from ordinary ops.
 */
export const SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL = 'UnlearnBenchSoftmaxCrossEntropyGrad';

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/**
 * (softmax(logits) − onehot(labels)) · dy per row, 0 for a row whose label is outside the classes (its
 * loss is the constant 0): one kernel where the backend has it.
 */
function softmaxCrossEntropyGrad(logits: tf.Tensor, labels: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (hasKernel(SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL)) return tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, { logits, labels, dy }) as tf.Tensor;
  const oneHot = tf.oneHot(labels as tf.Tensor1D, logits.shape[1]!);
  const valid = tf.sum(oneHot, 1, true);
  return tf.mul(tf.sub(tf.mul(tf.softmax(logits), valid), oneHot), tf.expandDims(dy, 1));
}

tf.registerGradient({
  kernelName: SOFTMAX_CROSS_ENTROPY_KERNEL,
  inputsToSave: ['logits', 'labels'],
  gradFunc: (dy, [logits, labels]) => ({
    logits: () => softmaxCrossEntropyGrad(logits, labels, dy as tf.Tensor),
    labels: () => tf.zeros(labels.shape),
  }),
});

// With s = softmax(z), v = 1 where the label is a class (else 0) and an upstream G of the gradient
// d = (s·v − y)·dy: ∂⟨G, d⟩/∂z = s ⊙ (u − Σⱼ sⱼuⱼ) with u = G·dy·v (the softmax Jacobian is
// symmetric), and ∂⟨G, d⟩/∂dy = Σⱼ Gⱼ(sⱼv − yⱼ).
tf.registerGradient({
  kernelName: SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  inputsToSave: ['logits', 'labels', 'dy'],
  gradFunc: (g, [logits, labels, dy]) => {
    const upstream = g as tf.Tensor;
    const oneHot = (): tf.Tensor => tf.oneHot(labels as tf.Tensor1D, logits.shape[1]!);
    return {
      logits: () => {
        const s = tf.softmax(logits);
        const u = tf.mul(upstream, tf.mul(tf.expandDims(dy, 1), tf.sum(oneHot(), 1, true)));
        return tf.mul(s, tf.sub(u, tf.sum(tf.mul(s, u), 1, true)));
      },
      labels: () => tf.zeros(labels.shape),
      dy: () => {
        const y = oneHot();
        return tf.sum(tf.mul(upstream, tf.sub(tf.mul(tf.softmax(logits), tf.sum(y, 1, true)), y)), 1);
      },
    };
  },
});

/**
 * ∂/∂logits of Σᵢ dyᵢ · crossEntropy(logitsᵢ, labelsᵢ) for `logits` `[n, c]`, int32 `labels` `[n]`
 * and `dy` `[n]`: what `tf.grad` of `crossEntropyPerExample` gives, to the bit (its kernel's
 * gradient where the backend registers it, else the gradient of its log-softmax form), for a
 * model's own backward pass (`ClassifierModel.inputLossGradient`).
 */
export function crossEntropyGradient(logits: tf.Tensor2D, labels: tf.Tensor1D, dy: tf.Tensor1D): tf.Tensor2D {
  if (crossEntropyKernelApplies(logits, labels)) return softmaxCrossEntropyGrad(logits, labels, dy) as tf.Tensor2D;
  return tf.grad((z: tf.Tensor) => crossEntropyPerExample(z as tf.Tensor2D, labels))(logits, dy) as tf.Tensor2D;
}

/** Whether `crossEntropyPerExample` runs as SOFTMAX_CROSS_ENTROPY_KERNEL for these tensors. */
function crossEntropyKernelApplies(logits: tf.Tensor, labels: tf.Tensor): boolean {
  return logits.rank === 2 && logits.dtype === 'float32' && labels.dtype === 'int32' && hasKernel(SOFTMAX_CROSS_ENTROPY_KERNEL);
}

/**
 * Per-example softmax cross-entropy of `logits` `[n, c]` against integer `labels` `[n]`: one kernel
 * where the backend registers SOFTMAX_CROSS_ENTROPY_KERNEL (the models package's native kernels),
 * else log-softmax and a one-hot product.
 */
export function crossEntropyPerExample(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  if (crossEntropyKernelApplies(logits, labels)) {
    return tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_KERNEL, { logits, labels }) as tf.Tensor1D;
  }
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    return tf.neg(tf.sum(tf.mul(oneHot, logProbs), 1)) as tf.Tensor1D;
  });
}

/** Mean softmax cross-entropy. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(crossEntropyPerExample(logits, labels)) as tf.Scalar);
}

/** Options of one SGD run; the recipe fields come from the manifest's `training`. */
export interface SgdOptions extends TrainingRecipe {
  readonly rng: Rng;
  /** Counts every example through forward+backward. */
  readonly meter: BudgetMeter;
  readonly logger?: Logger;
  /** Shown in progress output. */
  readonly label?: string;
  /** Stop once this many examples have been used (budgeted unlearning). */
  readonly maxExamples?: number;
  /** Variables to update (default: all of the model's parameters). */
  readonly variables?: readonly tf.Variable[];
  /**
   * The minibatch objective to minimise (default: mean cross-entropy). Gradient ascent and
   * mixed objectives plug in here.
   */
  readonly loss?: (model: ClassifierModel, inputs: tf.Tensor, labels: tf.Tensor1D) => tf.Scalar;
  /**
   * An optimizer to use instead of a fresh one from the recipe, so that its state (momentum, Adam
   * moments, schedule position) carries across calls. It must be over the variables trained here;
   * the caller disposes it. The recipe's optimizer fields are then ignored.
   */
  readonly sharedOptimizer?: Optimizer;
  /**
   * Per-step extra added to each variable's update direction, kept out of the optimizer's state
   * (see `StepExtras.updateNoise`); called once per step, its tensors are disposed after the step.
   */
  readonly updateNoise?: (variables: readonly tf.Variable[]) => tf.NamedTensorMap;
}

/** What a training run did. */
export interface TrainReport {
  readonly examples: number;
  readonly steps: number;
  readonly seconds: number;
  readonly finalLoss: number;
}

/** Optimizer steps of a run over `count` examples per epoch, `epochs` epochs capped at `maxExamples`, batches of `batchSize`. */
export function plannedSteps(count: number, batchSize: number, epochs: number, maxExamples = Number.POSITIVE_INFINITY): number {
  if (count === 0) return 0;
  const total = Math.min(maxExamples, epochs * count);
  const fullEpochs = Math.floor(total / count);
  return fullEpochs * Math.ceil(count / batchSize) + Math.ceil((total - fullEpochs * count) / batchSize);
}

/**
 * Called between every two optimizer steps of every training run in this process (plugins' too),
 * while a run sets it (`setStepCheck`): it throws to stop the training there. The runner stops a
 * run this way on SIGINT/SIGTERM, and the training of a cell given up after its timeout.
 */
let stepCheck: (() => void) | undefined;

/** Sets the check run between training steps (see `stepCheck`); returns the function that restores the previous one. */
export function setStepCheck(check: (() => void) | undefined): () => void {
  const previous = stepCheck;
  stepCheck = check;
  return () => {
    stepCheck = previous;
  };
}

/**
 * Minibatch training over `examples`, reshuffled every epoch with `rng`, with the recipe's
 * optimizer (default: SGD with momentum and coupled L2, PyTorch's convention
 * v ← μv + g + λw; w ← w − ηv) or the given `sharedOptimizer`. Mutates `model`. (The name stays from
 * when SGD was the only rule.)
 */
export function trainSgd(model: ClassifierModel, examples: Examples, options: SgdOptions): TrainReport {
  const steps = sgdSteps(model, examples, options);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Wall time between two turns of the event loop in `trainSgdYielding`. */
const YIELD_INTERVAL_MS = 200;

/**
 * `trainSgd` that lets the event loop turn (signal handlers, IPC, timers) at least every 200 ms, so
 * that a run can be stopped within training. The runner trains the reference models with it. The
 * results are those of `trainSgd`.
 */
export async function trainSgdYielding(model: ClassifierModel, examples: Examples, options: SgdOptions): Promise<TrainReport> {
  const steps = sgdSteps(model, examples, options);
  let turned = performance.now();
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    if (performance.now() - turned >= YIELD_INTERVAL_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      turned = performance.now();
    }
  }
}

/** The training loop of `trainSgd`, pausing (yield) after every optimizer step. */
function* sgdSteps(model: ClassifierModel, examples: Examples, options: SgdOptions): Generator<void, TrainReport, void> {
  const variables = options.variables ?? model.parameters();
  const objective = options.loss ?? ((m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D) => crossEntropy(m.logits(x), y));
  // The loss sees the model in training mode (batch statistics for batch norm, running stats updated).
  const training = inTrainingMode(model);
  // The model's own backward pass, where it has one, for the default objective over all parameters.
  const own = options.loss === undefined && options.variables === undefined && model.lossGradients ? model.lossGradients.bind(model) : undefined;
  const maxExamples = options.maxExamples ?? Number.POSITIVE_INFINITY;
  const optimizer =
    options.sharedOptimizer ??
    createOptimizer(options, variables, {
      stepsPerEpoch: Math.ceil(examples.count / options.batchSize),
      totalSteps: plannedSteps(examples.count, options.batchSize, options.epochs, maxExamples),
    });
  const augment = activeAugment(options.augment, examples.inputShape);
  const start = performance.now();
  let used = 0;
  let steps = 0;
  let lastLoss = Number.NaN;
  try {
    for (let epoch = 0; epoch < options.epochs && used < maxExamples; epoch++) {
      const order = options.rng.permutation(examples.count);
      // A stream of its own per epoch, so augmenting leaves the shuffling's draws as they were.
      const augmentRng = augment ? options.rng.fork(`augment/epoch ${epoch}`) : undefined;
      let epochLoss = 0;
      let epochBatches = 0;
      const epochStart = performance.now();
      let epochExamples = 0;
      for (let offset = 0; offset < examples.count && used < maxExamples; offset += options.batchSize) {
        stepCheck?.();
        const take = Math.min(options.batchSize, examples.count - offset, maxExamples - used);
        const indices = order.subarray(offset, offset + take);
        options.meter.spend(take);
        const transform = augment && augmentRng ? (images: Float32Array, n: number) => augmentBatch(images, n, examples.inputShape, augment, augmentRng) : undefined;
        const lossValue = trainingStep(training, examples, indices, variables, optimizer, own ?? { objective }, options.updateNoise, transform, options.microBatchSize);
        used += take;
        epochExamples += take;
        steps += 1;
        epochLoss += lossValue;
        epochBatches += 1;
        yield;
      }
      lastLoss = epochLoss / Math.max(1, epochBatches);
      const seconds = (performance.now() - epochStart) / 1000;
      const planned = Math.min(maxExamples, options.epochs * examples.count);
      const elapsed = (performance.now() - start) / 1000;
      options.logger?.progress({
        label: options.label ?? 'train',
        epoch: epoch + 1,
        epochs: options.epochs,
        loss: lastLoss,
        examplesPerSecond: epochExamples / Math.max(seconds, 1e-9),
        fraction: Math.min(1, used / planned),
        etaSeconds: (elapsed / Math.max(1, used)) * Math.max(0, planned - used),
      });
    }
  } finally {
    if (!options.sharedOptimizer) optimizer.dispose();
  }
  return { examples: used, steps, seconds: (performance.now() - start) / 1000, finalLoss: lastLoss };
}

/** A model's `lossGradients`, bound to it. */
type OwnGradients = (inputs: tf.Tensor, labels: tf.Tensor1D) => { value: tf.Scalar; grads: tf.NamedTensorMap };

function trainingStep(
  model: ClassifierModel,
  examples: Examples,
  indices: ArrayLike<number>,
  variables: readonly tf.Variable[],
  optimizer: Optimizer,
  /** The objective, differentiated on the tape; or the model's own gradients of the default one. */
  gradientsOf: { readonly objective: (model: ClassifierModel, inputs: tf.Tensor, labels: tf.Tensor1D) => tf.Scalar } | OwnGradients,
  updateNoise: SgdOptions['updateNoise'],
  transform?: (images: Float32Array, n: number) => void,
  microBatchSize?: number,
): number {
  const lossTensor = tf.tidy(() => {
    const n = indices.length;
    const micro = microBatchSize !== undefined && microBatchSize < n ? microBatchSize : n;
    let value: tf.Scalar | undefined;
    let grads: tf.NamedTensorMap = {};
    // Gradient accumulation: Σ (nᵢ/n)·∇ objective(micro-batch i), the whole batch's gradient for a
    // per-example mean, with one micro-batch's activations alive at a time.
    for (let start = 0; start < n; start += micro) {
      const part = Array.prototype.slice.call(indices, start, Math.min(n, start + micro)) as number[];
      const weight = part.length / n;
      const step = tf.tidy(() => {
        const x = transform ? augmentedInputs(examples, part, transform) : inputsTensor(examples, part);
        const y = labelsTensor(examples, part);
        if (typeof gradientsOf === 'function') return gradientsOf(x, y);
        const { objective } = gradientsOf;
        return tf.variableGrads(() => objective(model, x, y), variables as tf.Variable[]);
      });
      if (micro === n) {
        ({ value, grads } = step);
        break;
      }
      const previous = { value, grads };
      value = tf.tidy(() => (previous.value ? tf.add(previous.value, tf.mul(step.value, weight)) : tf.mul(step.value, weight)) as tf.Scalar);
      grads = tf.tidy(() => Object.fromEntries(Object.entries(step.grads).map(([name, g]) => [name, previous.grads[name] ? tf.add(previous.grads[name], tf.mul(g, weight)) : tf.mul(g, weight)])));
      tf.dispose([step.value, ...Object.values(step.grads), previous.value, ...Object.values(previous.grads)].filter((t): t is tf.Tensor => t !== undefined));
    }
    optimizer.step(grads, updateNoise ? { updateNoise: updateNoise(variables) } : undefined);
    return value!;
  });
  const loss = lossTensor.dataSync()[0];
  lossTensor.dispose();
  return loss;
}

/**
 * `model` in training mode: a view whose `logits(x)` runs as `model.logits(x, { training: true })`
 * (batch normalisation on the batch's statistics, running statistics updated); everything else is
 * the model's own. `trainSgd` hands its loss this view, so a custom loss `(m, x, y) => …` that calls
 * `m.logits(x)` trains batch-norm models as PyTorch's `model.train()` would. Other models (a SCRUB
 * teacher, a metric's model) stay in evaluation mode.
 */
export function inTrainingMode(model: ClassifierModel): ClassifierModel {
  return new Proxy(model, {
    get(target, property) {
      if (property === 'logits') return (inputs: tf.Tensor, options?: LogitsOptions) => target.logits(inputs, { ...options, training: true });
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The inputs at `indices` copied, transformed in place by `transform` (plain JavaScript, no tensors), as a tensor. */
function augmentedInputs(examples: Examples, indices: ArrayLike<number>, transform: (images: Float32Array, n: number) => void): tf.Tensor {
  return tensorFilledBy([indices.length, ...examples.inputShape], (buffer) => {
    gatherInto(examples, indices, buffer);
    transform(buffer, indices.length);
  });
}

/** Applies `fn` to consecutive batches of at most `batchSize` examples; returns the results in order. */
export function mapBatches<T>(examples: Examples, batchSize: number, fn: (x: tf.Tensor, y: tf.Tensor1D, offset: number) => T): T[] {
  const out: T[] = [];
  for (let offset = 0; offset < examples.count; offset += batchSize) {
    const end = Math.min(examples.count, offset + batchSize);
    // A contiguous range, not a gather per example. Backends copy what tf.tensor gets, except the cpu
    // backend, which would keep a view of the examples as the tensor's storage: it gets a copy.
    const size = exampleSize(examples.inputShape);
    const copy = tf.getBackend() === 'cpu';
    const inputs = examples.inputs[copy ? 'slice' : 'subarray'](offset * size, end * size);
    const x = tf.tensor(inputs, [end - offset, ...examples.inputShape], 'float32');
    const y = tf.tensor1d(examples.labels[copy ? 'slice' : 'subarray'](offset, end), 'int32');
    try {
      out.push(fn(x, y, offset));
    } finally {
      x.dispose();
      y.dispose();
    }
  }
  return out;
}

/**
 * Predicted class of every example, or -1 for an example whose logits are not all finite (a
 * diverged model: argMax of a NaN row would otherwise read as class 0).
 */
export function predictClasses(model: ClassifierModel, examples: Examples, batchSize = 512): Int32Array {
  const out = new Int32Array(examples.count);
  mapBatches(examples, batchSize, (x, _y, offset) => {
    const [predicted, finite] = tf.tidy(() => {
      const logits = model.logits(x);
      return [tf.argMax(logits, 1), tf.all(tf.isFinite(logits), 1)];
    });
    const classes = predicted.dataSync() as Int32Array;
    const ok = finite.dataSync();
    for (let i = 0; i < classes.length; i++) out[offset + i] = ok[i] ? classes[i] : -1;
    tf.dispose([predicted, finite]);
  });
  return out;
}

/** Whether `predictClasses` met a non-finite row. */
export function hasNonFinitePrediction(predicted: Int32Array): boolean {
  return predicted.includes(-1);
}

/** Fraction of examples classified correctly; NaN if any example's logits are not finite. */
export function accuracy(model: ClassifierModel, examples: Examples, batchSize = 512): number {
  if (examples.count === 0) return Number.NaN;
  const predicted = predictClasses(model, examples, batchSize);
  if (hasNonFinitePrediction(predicted)) return Number.NaN;
  let correct = 0;
  for (let i = 0; i < examples.count; i++) if (predicted[i] === examples.labels[i]) correct++;
  return correct / examples.count;
}

/** Cross-entropy loss of every example. */
export function perExampleLoss(model: ClassifierModel, examples: Examples, batchSize = 512): Float32Array {
  const out = new Float32Array(examples.count);
  mapBatches(examples, batchSize, (x, y, offset) => {
    const losses = tf.tidy(() => crossEntropyPerExample(model.logits(x), y));
    out.set(losses.dataSync() as Float32Array, offset);
    losses.dispose();
  });
  return out;
}

/**
 * ∇ₓ of each example's own cross-entropy loss, flat and row-aligned with `examples.inputs`
 * (capability `input-gradients`). Batches sum the losses, which leaves each row's gradient its own.
 * For a token model (`model.tokenInputs`) x is the example's token embeddings (`model.embed`), so
 * each row has `embeddingShape` values.
 */
export function inputGradients(model: ClassifierModel, examples: Examples, batchSize = 256): Float32Array {
  const tokens = model.tokenInputs;
  if (tokens && !model.embed) throw new TypeError('a model with tokenInputs must implement embed(inputs)');
  const size = tokens ? exampleSize(tokens.embeddingShape) : exampleSize(examples.inputShape);
  const out = new Float32Array(examples.count * size);
  mapBatches(examples, batchSize, (x, y, offset) => {
    // ∇ of Σᵢ lossᵢ, with the sum's gradient given as dy = 1 per example (the same values, two kernels fewer).
    const gradient = tf.tidy(() => {
      if (!tokens && model.inputLossGradient) return model.inputLossGradient(x, y);
      const ones = tf.ones([x.shape[0]]);
      if (!tokens) return tf.grad((input: tf.Tensor) => crossEntropyPerExample(model.logits(input), y))(x, ones);
      return tf.grad((embeddings: tf.Tensor) => crossEntropyPerExample(model.logits(x, { embeddings }), y))(model.embed!(x), ones);
    });
    readTensorInto(gradient, out, offset * size);
    gradient.dispose();
  });
  return out;
}
