/**
 * Pieces shared by the model architectures: deterministic initialisers, dense and convolution
 * layer specs, and one model class that holds a TF.js variable per parameter and runs the
 * architecture's forward pass over them. Initial values are drawn in JavaScript from the seeded
 * Rng, so a seed gives bit-identical weights on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Capability, ClassifierModel, LogitsOptions, ModelLayer, Rng } from '@unlearn-bench/core';
import { conv2dSameOp, denseOp, type Activation } from './engine/fused-ops.ts';

/** What every model built here supports. */
export const MODEL_CAPABILITIES: readonly Capability[] = ['parameters', 'input-gradients', 'layers'];

/** One trainable tensor of a layer and how to draw its values. */
export interface ParameterSpec {
  /** `kernel` or `bias`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: (rng: Rng) => Float32Array;
}

/** A named layer, its parameters and its buffers (non-trainable state such as batch-norm statistics). */
export interface LayerSpec {
  readonly name: string;
  readonly parameters: readonly ParameterSpec[];
  /** Non-trainable state the forward pass reads and, in training mode, updates; reset on reinitialisation. */
  readonly buffers?: readonly ParameterSpec[];
}

/** What a forward pass gets besides the parameters. */
export interface ForwardState {
  /** Training mode (`logits(x, { training: true })`): batch statistics, buffers updated. */
  readonly training: boolean;
  /** `buffers[i]` holds layer i's buffer variables in spec order (empty for layers without any). */
  readonly buffers: readonly (readonly tf.Variable[])[];
}

/** A concrete network: its layers, input to output, and a forward pass over their variables. */
export interface Architecture {
  /** Prefix of the variable names, e.g. `mlp`. */
  readonly id: string;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly LayerSpec[];
  /** Logits `[batch, numClasses]`; `weights[i]` holds layer i's variables in spec order. */
  forward(inputs: tf.Tensor, weights: readonly (readonly tf.Variable[])[], state: ForwardState): tf.Tensor2D;
  /** Optional: the model's `inputLossGradient` (see ClassifierModel), evaluation mode. */
  inputLossGradient?(inputs: tf.Tensor, labels: tf.Tensor1D, weights: readonly (readonly tf.Variable[])[]): tf.Tensor;
  /** Optional: the model's `lossGradients` (see ClassifierModel), training mode; `grads[i][j]` is that of `weights[i][j]`. */
  lossGradients?(inputs: tf.Tensor, labels: tf.Tensor1D, weights: readonly (readonly tf.Variable[])[]): { value: tf.Scalar; grads: tf.Tensor[][] };
}

/** He-uniform kernel, U(−√(6/fanIn), √(6/fanIn)), suited to layers followed by ReLU. */
function heUniformKernel(shape: readonly number[], fanIn: number): ParameterSpec {
  const size = shape.reduce((a, b) => a * b, 1);
  const limit = Math.sqrt(6 / fanIn);
  return {
    name: 'kernel',
    shape,
    init: (rng) => {
      const values = new Float32Array(size);
      for (let i = 0; i < size; i++) values[i] = (2 * rng.next() - 1) * limit;
      return values;
    },
  };
}

function zeroBias(size: number): ParameterSpec {
  return { name: 'bias', shape: [size], init: () => new Float32Array(size) };
}

/** A fully connected layer `inputs → units` (kernel `[inputs, units]`, bias `[units]`). */
export function denseLayer(name: string, inputs: number, units: number): LayerSpec {
  return { name, parameters: [heUniformKernel([inputs, units], inputs), zeroBias(units)] };
}

/** A 3×3 convolution `channels → filters` (kernel `[3, 3, channels, filters]`, bias `[filters]`). */
export function conv3x3Layer(name: string, channels: number, filters: number): LayerSpec {
  return { name, parameters: [heUniformKernel([3, 3, channels, filters], 9 * channels), zeroBias(filters)] };
}

/** `activation(x · kernel + bias)` for `x` `[batch, inputs]` (one fused kernel where the native kernels run). */
export function dense(x: tf.Tensor2D, [kernel, bias]: readonly tf.Variable[], activation: Activation = 'linear'): tf.Tensor2D {
  return denseOp(x, kernel, bias, activation);
}

/** `activation(conv2d(x, kernel, stride 1, same) + bias)` for `x` `[batch, height, width, channels]` (one fused kernel where the native kernels run). */
export function conv2dSame(x: tf.Tensor4D, [kernel, bias]: readonly tf.Variable[], activation: Activation = 'linear'): tf.Tensor4D {
  return conv2dSameOp(x, kernel, bias, activation);
}

let modelCount = 0;

/**
 * A model of `architecture` with weights drawn from `rng`, layer by layer in spec order, then its
 * buffers at their initial values (buffer initialisers must not draw from the rng).
 */
export function buildModel(architecture: Architecture, rng: Rng): ClassifierModel {
  const values = architecture.layers.flatMap((layer) => layer.parameters.map((parameter) => parameter.init(rng)));
  const buffers = architecture.layers.flatMap((layer) => (layer.buffers ?? []).map((buffer) => buffer.init(rng)));
  return new VariableModel(architecture, [...values, ...buffers]);
}

class VariableModel implements ClassifierModel {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability> = new Set(MODEL_CAPABILITIES);
  private readonly weights: tf.Variable[][];
  private readonly layerBuffers: tf.Variable[][];
  private readonly variables: tf.Variable[];
  private readonly bufferVariables: tf.Variable[];
  /** Parameters then buffers: the order of getWeights()/setWeights(). */
  private readonly state: tf.Variable[];
  private readonly modelLayers: ModelLayer[];

  /** `values`: every parameter in layer order, then every buffer in layer order. */
  constructor(
    private readonly architecture: Architecture,
    values: readonly Float32Array[],
  ) {
    this.inputShape = architecture.inputShape;
    this.numClasses = architecture.numClasses;
    // TF.js variable names are global, so every instance gets its own prefix.
    const prefix = `${architecture.id}_${modelCount++}`;
    let next = 0;
    const create = (layer: LayerSpec, spec: ParameterSpec, trainable: boolean): tf.Variable => {
      const initial = tf.tensor(values[next++], [...spec.shape], 'float32');
      const variable = tf.variable(initial, trainable, `${prefix}/${layer.name}/${spec.name}`);
      initial.dispose();
      return variable;
    };
    this.weights = architecture.layers.map((layer) => layer.parameters.map((parameter) => create(layer, parameter, true)));
    this.layerBuffers = architecture.layers.map((layer) => (layer.buffers ?? []).map((buffer) => create(layer, buffer, false)));
    this.variables = this.weights.flat();
    this.bufferVariables = this.layerBuffers.flat();
    this.state = [...this.variables, ...this.bufferVariables];
    this.modelLayers = architecture.layers.map((layer, i) => ({
      name: layer.name,
      parameters: this.weights[i],
      buffers: this.layerBuffers[i],
      reinitialize: (rng: Rng) => {
        layer.parameters.forEach((parameter, j) => assign(this.weights[i][j], parameter.init(rng)));
        (layer.buffers ?? []).forEach((buffer, j) => assign(this.layerBuffers[i][j], buffer.init(rng)));
      },
    }));
    const ownGradient = architecture.inputLossGradient;
    if (ownGradient) this.inputLossGradient = (inputs, labels) => tf.tidy(() => ownGradient.call(architecture, inputs, labels, this.weights));
    const ownGradients = architecture.lossGradients;
    if (ownGradients) {
      this.lossGradients = (inputs, labels) =>
        tf.tidy(() => {
          const { value, grads } = ownGradients.call(architecture, inputs, labels, this.weights);
          return { value, grads: Object.fromEntries(grads.flatMap((layer, i) => layer.map((g, j) => [this.weights[i][j].name, g]))) };
        });
    }
  }

  readonly inputLossGradient?: (inputs: tf.Tensor, labels: tf.Tensor1D) => tf.Tensor;
  readonly lossGradients?: (inputs: tf.Tensor, labels: tf.Tensor1D) => { value: tf.Scalar; grads: tf.NamedTensorMap };

  logits(inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D {
    const state: ForwardState = { training: options?.training === true, buffers: this.layerBuffers };
    return tf.tidy(() => this.architecture.forward(inputs, this.weights, state));
  }

  parameters(): readonly tf.Variable[] {
    return this.variables;
  }

  buffers(): readonly tf.Variable[] {
    return this.bufferVariables;
  }

  layers(): readonly ModelLayer[] {
    return this.modelLayers;
  }

  clone(): ClassifierModel {
    return new VariableModel(this.architecture, this.getWeights());
  }

  getWeights(): Float32Array[] {
    return this.state.map((variable) => (variable.dataSync() as Float32Array).slice());
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.state.length) {
      const buffers = this.bufferVariables.length > 0 ? ` and ${this.bufferVariables.length} per buffer` : '';
      throw new RangeError(`setWeights got ${weights.length} arrays, expected ${this.state.length} (one per parameter${buffers})`);
    }
    this.state.forEach((variable, i) => {
      if (weights[i].length !== variable.size) {
        throw new RangeError(`setWeights: array ${i} (${variable.name}) has ${weights[i].length} values, expected ${variable.size}`);
      }
    });
    // Copies: the cpu backend would otherwise keep the caller's array as the variable's storage.
    this.state.forEach((variable, i) => assign(variable, weights[i].slice()));
  }

  dispose(): void {
    tf.dispose(this.state);
  }
}

function assign(variable: tf.Variable, values: Float32Array): void {
  tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
}

/**
 * PyTorch's default initialisation of `nn.Conv2d` and `nn.Linear` weights (kaiming_uniform_ with
 * a = √5), U(−1/√fanIn, 1/√fanIn): the CIFAR ResNets of the study's lineage (kuangliu/pytorch-cifar
 * `models/resnet.py`) keep PyTorch's defaults, so ours do too.
 */
export function torchDefaultKernel(shape: readonly number[], fanIn: number): ParameterSpec {
  const size = shape.reduce((a, b) => a * b, 1);
  const limit = 1 / Math.sqrt(fanIn);
  return {
    name: 'kernel',
    shape,
    init: (rng) => {
      const values = new Float32Array(size);
      for (let i = 0; i < size; i++) values[i] = (2 * rng.next() - 1) * limit;
      return values;
    },
  };
}

/** PyTorch's default `nn.Linear` bias, U(−1/√fanIn, 1/√fanIn). */
function torchDefaultBias(size: number, fanIn: number): ParameterSpec {
  return { ...torchDefaultKernel([size], fanIn), name: 'bias' };
}

/** A dense layer initialised as PyTorch's `nn.Linear` (kernel `[inputs, units]`, bias `[units]`). */
export function torchDenseLayer(name: string, inputs: number, units: number): LayerSpec {
  return { name, parameters: [torchDefaultKernel([inputs, units], inputs), torchDefaultBias(units, inputs)] };
}

/** PyTorch `nn.BatchNorm2d` defaults: running-statistics momentum 0.1, ε = 1e-5. */
export const BATCH_NORM_MOMENTUM = 0.1;
export const BATCH_NORM_EPSILON = 1e-5;

function constantSpec(name: string, size: number, value: number): ParameterSpec {
  return { name, shape: [size], init: () => new Float32Array(size).fill(value) };
}

/**
 * The parameters (`gamma` = 1, `beta` = 0) and buffers (running `mean` = 0, running `variance` = 1)
 * of one batch-norm over `channels`, named `<name>/…`, as PyTorch initialises `nn.BatchNorm2d`.
 */
export function batchNormSpecs(name: string, channels: number): { parameters: ParameterSpec[]; buffers: ParameterSpec[] } {
  return {
    parameters: [constantSpec(`${name}/gamma`, channels, 1), constantSpec(`${name}/beta`, channels, 0)],
    buffers: [constantSpec(`${name}/mean`, channels, 0), constantSpec(`${name}/variance`, channels, 1)],
  };
}

/**
 * Per-channel mean and biased variance of `x` over its n = batch·height·width positions, as
 * (1/n)·1ᵀX products of the [n, C] view: a matrix product (and its gradient) runs on the engine's
 * BLAS kernel, where tf.moments' reduction over the leading axes transposed x first. The variance
 * is of the centred values, as tf.moments computes it.
 */
function channelMoments(x: tf.Tensor4D, n: number): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const channels = x.shape[3];
  const flat = tf.reshape(x, [n, channels]) as tf.Tensor2D;
  const average = tf.fill([1, n], 1 / n) as tf.Tensor2D;
  const mean = tf.reshape(tf.matMul(average, flat), [channels]) as tf.Tensor1D;
  const variance = tf.reshape(tf.matMul(average, tf.square(tf.sub(flat, mean))), [channels]) as tf.Tensor1D;
  return { mean, variance };
}

/**
 * Batch normalisation of `x` `[batch, height, width, channels]` per channel, as PyTorch's
 * `nn.BatchNorm2d`. Training mode normalises with the batch's mean and biased variance, through
 * which gradients flow, and moves the running statistics towards the batch's (momentum 0.1, the
 * variance unbiased by n/(n−1) with n = batch·height·width). Evaluation mode normalises with the
 * running statistics and changes nothing.
 */
export function batchNorm(x: tf.Tensor4D, [gamma, beta]: readonly tf.Variable[], [runningMean, runningVariance]: readonly tf.Variable[], training: boolean): tf.Tensor4D {
  // y = x·a + b with a = γ/√(σ² + ε) and b = β − μ·a per channel: two broadcast ops whose gradients
  // are reductions. (tf.batchNorm's gradient tiles [C] vectors to x's shape, which took over half
  // of a ResNet training step on wasm.)
  const affine = (mean: tf.Tensor, variance: tf.Tensor): tf.Tensor4D => {
    const a = tf.mul(gamma, tf.rsqrt(tf.add(variance, BATCH_NORM_EPSILON)));
    return tf.add(tf.mul(x, a), tf.sub(beta, tf.mul(mean, a))) as tf.Tensor4D;
  };
  if (!training) return affine(runningMean, runningVariance);
  const n = x.shape[0] * x.shape[1] * x.shape[2];
  const { mean, variance } = channelMoments(x, n);
  const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
  // Buffers are not on the loss's path: assigning them records nothing the gradient uses.
  runningMean.assign(tf.add(tf.mul(runningMean, 1 - BATCH_NORM_MOMENTUM), tf.mul(mean, BATCH_NORM_MOMENTUM)));
  runningVariance.assign(tf.add(tf.mul(runningVariance, 1 - BATCH_NORM_MOMENTUM), tf.mul(unbiased, BATCH_NORM_MOMENTUM)));
  return affine(mean, variance);
}
