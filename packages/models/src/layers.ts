/**
 * Pieces shared by the model architectures: deterministic initialisers, dense and convolution
 * layer specs, and one model class that holds a TF.js variable per parameter and runs the
 * architecture's forward pass over them. Initial values are drawn in JavaScript from the seeded
 * Rng, so a seed gives bit-identical weights on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Capability, ClassifierModel, ModelLayer, Rng } from '@unlearn-bench/core';

/** What every model built here supports. */
export const MODEL_CAPABILITIES: readonly Capability[] = ['parameters', 'input-gradients', 'layers'];

/** One trainable tensor of a layer and how to draw its values. */
export interface ParameterSpec {
  /** `kernel` or `bias`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: (rng: Rng) => Float32Array;
}

/** A named layer and its parameters. */
export interface LayerSpec {
  readonly name: string;
  readonly parameters: readonly ParameterSpec[];
}

/** A concrete network: its layers, input to output, and a forward pass over their variables. */
export interface Architecture {
  /** Prefix of the variable names, e.g. `mlp`. */
  readonly id: string;
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly layers: readonly LayerSpec[];
  /** Logits `[batch, numClasses]`; `weights[i]` holds layer i's variables in spec order. */
  forward(inputs: tf.Tensor, weights: readonly (readonly tf.Variable[])[]): tf.Tensor2D;
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

/** `x · kernel + bias` for `x` `[batch, inputs]`. */
export function dense(x: tf.Tensor2D, [kernel, bias]: readonly tf.Variable[]): tf.Tensor2D {
  return tf.add(tf.matMul(x, kernel as tf.Tensor2D), bias);
}

/** Stride-1, same-padded convolution plus bias for `x` `[batch, height, width, channels]`. */
export function conv2dSame(x: tf.Tensor4D, [kernel, bias]: readonly tf.Variable[]): tf.Tensor4D {
  return tf.add(tf.conv2d(x, kernel as tf.Tensor4D, 1, 'same'), bias);
}

let modelCount = 0;

/** A model of `architecture` with weights drawn from `rng`, layer by layer in spec order. */
export function buildModel(architecture: Architecture, rng: Rng): ClassifierModel {
  const values = architecture.layers.flatMap((layer) => layer.parameters.map((parameter) => parameter.init(rng)));
  return new VariableModel(architecture, values);
}

class VariableModel implements ClassifierModel {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability> = new Set(MODEL_CAPABILITIES);
  private readonly weights: tf.Variable[][];
  private readonly variables: tf.Variable[];
  private readonly modelLayers: ModelLayer[];

  constructor(
    private readonly architecture: Architecture,
    values: readonly Float32Array[],
  ) {
    this.inputShape = architecture.inputShape;
    this.numClasses = architecture.numClasses;
    // TF.js variable names are global, so every instance gets its own prefix.
    const prefix = `${architecture.id}_${modelCount++}`;
    let next = 0;
    this.weights = architecture.layers.map((layer) =>
      layer.parameters.map((parameter) => {
        const initial = tf.tensor(values[next++], [...parameter.shape], 'float32');
        const variable = tf.variable(initial, true, `${prefix}/${layer.name}/${parameter.name}`);
        initial.dispose();
        return variable;
      }),
    );
    this.variables = this.weights.flat();
    this.modelLayers = architecture.layers.map((layer, i) => ({
      name: layer.name,
      parameters: this.weights[i],
      reinitialize: (rng: Rng) => {
        layer.parameters.forEach((parameter, j) => assign(this.weights[i][j], parameter.init(rng)));
      },
    }));
  }

  logits(inputs: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.architecture.forward(inputs, this.weights));
  }

  parameters(): readonly tf.Variable[] {
    return this.variables;
  }

  layers(): readonly ModelLayer[] {
    return this.modelLayers;
  }

  clone(): ClassifierModel {
    return new VariableModel(this.architecture, this.getWeights());
  }

  getWeights(): Float32Array[] {
    return this.variables.map((variable) => (variable.dataSync() as Float32Array).slice());
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.variables.length) {
      throw new RangeError(`setWeights got ${weights.length} arrays, expected ${this.variables.length} (one per parameter)`);
    }
    this.variables.forEach((variable, i) => {
      if (weights[i].length !== variable.size) {
        throw new RangeError(`setWeights: array ${i} (${variable.name}) has ${weights[i].length} values, expected ${variable.size}`);
      }
    });
    // Copies: the cpu backend would otherwise keep the caller's array as the variable's storage.
    this.variables.forEach((variable, i) => assign(variable, weights[i].slice()));
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

function assign(variable: tf.Variable, values: Float32Array): void {
  tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
}
