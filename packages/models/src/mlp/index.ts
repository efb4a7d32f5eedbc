/**
 * `mlp`: a plain multi-layer perceptron. The input is flattened, each hidden layer is dense + ReLU,
 * and a final dense layer gives the logits. Layers are named `dense1` … `denseN`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, crossEntropyGradient, defineModel, exampleSize, type ModelShape } from '@unlearn-bench/core';
import { reluGrad } from '../engine/fused-ops.ts';
import { DENSE_STACK_INPUT_GRAD_KERNEL, DENSE_STACK_LOSS_GRADS_KERNEL } from '../engine/native-kernels.ts';
import { buildModel, dense, denseLayer, MODEL_CAPABILITIES, type Architecture } from '../layers.ts';

/** Options of `mlp`. */
export interface MlpOptions {
  /** Widths of the hidden layers, input to output. @default [512, 512] */
  readonly hidden: readonly number[];
}

function mlpArchitecture(options: MlpOptions, shape: ModelShape): Architecture {
  const inputs = exampleSize(shape.inputShape);
  const widths = [inputs, ...options.hidden, shape.numClasses];
  /** The inputs of a dense-stack kernel (native-kernels.ts). */
  const stackInputs = (x: tf.Tensor, labels: tf.Tensor1D, weights: readonly (readonly tf.Variable[])[]): tf.NamedTensorMap => {
    const named: tf.NamedTensorMap = { x: tf.reshape(x, [-1, inputs]), labels };
    weights.forEach(([kernel, bias], l) => Object.assign(named, { [`kernel${l}`]: kernel, [`bias${l}`]: bias }));
    return named;
  };
  /** The flattened input, then every layer's output (the last are the logits). */
  const layerOutputs = (x: tf.Tensor, weights: readonly (readonly tf.Variable[])[]): tf.Tensor2D[] => {
    const outputs = [tf.reshape(x, [-1, inputs]) as tf.Tensor2D];
    weights.forEach((layer, i) => outputs.push(dense(outputs[i], layer, i < weights.length - 1 ? 'relu' : 'linear')));
    return outputs;
  };
  return {
    id: 'mlp',
    inputShape: [...shape.inputShape],
    numClasses: shape.numClasses,
    layers: widths.slice(1).map((units, i) => denseLayer(`dense${i + 1}`, widths[i], units)),
    forward(x, weights) {
      return layerOutputs(x, weights).at(-1)!;
    },
    // The two backward passes below are those that the tape takes through `forward` (the dense
    // layers' registered gradients in fused-ops.ts, the loss's in core), written out: the same
    // kernels in the same order, so the same bits, without the tape's bookkeeping (saving,
    // filtering, accumulating): 10% of an input-gradient batch of 64, 4–7% of a training step
    // (bench/README.md, round 4). Dense layers have no training-mode behaviour.
    lossGradients(x, labels, weights) {
      // With the native kernels: the same kernels in one native call (no dispatch between them),
      // and the mean of the per-example losses as crossEntropy takes it.
      if (nativeStack(DENSE_STACK_LOSS_GRADS_KERNEL, labels)) {
        const [losses, ...grads] = tf.engine().runKernel(DENSE_STACK_LOSS_GRADS_KERNEL, stackInputs(x, labels, weights)) as tf.Tensor[];
        return { value: tf.mean(losses) as tf.Scalar, grads: weights.map((_, l) => [grads[l], grads[weights.length + l]]) };
      }
      const outputs = layerOutputs(x, weights);
      // The mean loss and its gradient by the loss's own registered gradients (a tape over it alone).
      const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, labels))(outputs.at(-1)!);
      const grads: tf.Tensor[][] = [];
      let dz = grad as tf.Tensor2D;
      for (let i = weights.length - 1; i >= 0; i--) {
        const [kernel, bias] = weights[i];
        grads[i] = [tf.matMul(outputs[i], dz, true, false), tf.reshape(tf.sum(dz, [0]), bias.shape)];
        // As on the tape, the first layer's input gradient is not computed.
        if (i > 0) dz = reluGrad(tf.matMul(dz, kernel as tf.Tensor2D, false, true), outputs[i]) as tf.Tensor2D;
      }
      return { value: value as tf.Scalar, grads };
    },
    inputLossGradient(x, labels, weights) {
      // With the native kernels: the same kernels in one native call (no dispatch between them).
      if (nativeStack(DENSE_STACK_INPUT_GRAD_KERNEL, labels)) return tf.reshape(tf.engine().runKernel(DENSE_STACK_INPUT_GRAD_KERNEL, stackInputs(x, labels, weights)) as tf.Tensor, x.shape);
      const outputs = layerOutputs(x, weights);
      let dz = crossEntropyGradient(outputs.at(-1)!, labels, tf.ones([labels.shape[0]]) as tf.Tensor1D);
      for (let i = weights.length - 1; i > 0; i--) dz = reluGrad(tf.matMul(dz, weights[i][0] as tf.Tensor2D, false, true), outputs[i]) as tf.Tensor2D;
      return tf.reshape(tf.matMul(dz, weights[0][0] as tf.Tensor2D, false, true), x.shape);
    },
  };
}

/** Whether the dense-stack kernel `name` runs here (wasm with the native kernels; int32 labels). */
function nativeStack(name: string, labels: tf.Tensor): boolean {
  return tf.getBackend() === 'wasm' && labels.dtype === 'int32' && tf.getKernel(name, 'wasm') !== undefined;
}

/** `mlp`: fully connected ReLU network on flattened inputs. */
export const mlpModel = defineModel<MlpOptions>({
  id: 'mlp',
  description: 'Multi-layer perceptron: flattened input, dense + ReLU hidden layers, dense logits.',
  capabilities: MODEL_CAPABILITIES,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      hidden: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 16384 },
        maxItems: 16,
        default: [512, 512],
        description: 'Widths of the hidden layers, input to output; [] gives a linear (softmax regression) model.',
      },
    },
  },
  create(options, shape) {
    const architecture = mlpArchitecture(options, shape);
    return { build: (rng) => buildModel(architecture, rng) };
  },
});
