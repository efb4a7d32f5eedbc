/**
 * `resnet`: the residual networks of the vision unlearning literature, with batch normalisation.
 *
 * - `resnet-18`: the CIFAR ResNet-18 of the study (He et al., CVPR 2016, as adapted to 32×32 inputs
 *   in kuangliu/pytorch-cifar `models/resnet.py`): a 3×3 stem convolution (stride 1, no max-pool),
 *   four stages of two BasicBlocks (width, 2·, 4·, 8·width channels; the first block of stages 2–4
 *   has stride 2 and a 1×1 convolution + batch norm shortcut), global average pooling, a dense layer.
 * - `resnet-9`: the DAWNBench ResNet-9 of D. Page ("How to train your ResNet", myrtle.ai, 2018),
 *   the model of the corrective-unlearning benchmark (Goel et al., 2024): prep conv-bn-relu (width);
 *   conv-bn-relu (2·width) + max-pool 2 with a residual of two conv-bn-relu; conv-bn-relu (4·width) +
 *   max-pool 2; conv-bn-relu (8·width) + max-pool 2 with a residual of two conv-bn-relu; global
 *   max-pool; dense. (Page's final 0.125 logit scale is left out, as in the widely used variant.)
 *
 * Convolutions are 3×3 with PyTorch's padding 1 (symmetric, unlike TF's asymmetric `same` at
 * stride 2) and no bias (each is followed by batch norm); weights start as PyTorch's defaults.
 * A "layer" for EU-k/CF-k is one residual block (resnet-18) or one stage (resnet-9), plus the stem
 * and the dense head: resnet-18 has 10 (`stem`, `layer1.0` … `layer4.1`, `fc`), resnet-9 has 7.
 *
 * Batch norm (see `batchNorm` in layers.ts) trains on batch statistics when the model is called in
 * training mode (`trainSgd` does) and evaluates on running statistics. Running means and variances
 * are the model's buffers: not parameters (no gradient, no optimizer update, no weight decay, not in
 * parameter distances, not dampened by SSD), but carried by clone, getWeights/setWeights and so by
 * the model cache; re-initialising a layer (EU-k, CF-k) resets its buffers to mean 0, variance 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineModel, type ModelShape } from '@unlearn-bench/core';
import {
  batchNorm,
  batchNormSpecs,
  buildModel,
  dense,
  MODEL_CAPABILITIES,
  torchDefaultKernel,
  torchDenseLayer,
  type Architecture,
  type ForwardState,
  type LayerSpec,
  type ParameterSpec,
} from '../layers.ts';

/** Options of `resnet`. */
export interface ResnetOptions {
  /** `resnet-18` (the study's CIFAR ResNet-18) or `resnet-9` (DAWNBench). @default "resnet-18" */
  readonly variant: 'resnet-18' | 'resnet-9';
  /** Channels of the first stage; later stages double it. 64 is the standard network. @default 64 */
  readonly width: number;
}

/** One convolution + batch norm inside a layer: kernel `[k, k, in, out]`, stride, PyTorch padding. */
interface ConvBn {
  readonly name: string;
  readonly size: 1 | 3;
  readonly inputs: number;
  readonly outputs: number;
  readonly stride: number;
}

/** The specs of a layer made of `convs` (each conv's kernel, then its bn's gamma and beta). */
function convBnLayer(name: string, convs: readonly ConvBn[]): LayerSpec {
  const parameters: ParameterSpec[] = [];
  const buffers: ParameterSpec[] = [];
  for (const conv of convs) {
    const kernel = torchDefaultKernel([conv.size, conv.size, conv.inputs, conv.outputs], conv.size * conv.size * conv.inputs);
    parameters.push({ ...kernel, name: `${conv.name}/kernel` });
    const bn = batchNormSpecs(`${conv.name}/bn`, conv.outputs);
    parameters.push(...bn.parameters);
    buffers.push(...bn.buffers);
  }
  return { name, parameters, buffers };
}

/**
 * conv → batch norm for conv `index` of a layer: parameters at `3·index` (kernel, gamma, beta),
 * buffers at `2·index` (mean, variance).
 */
function convBn(x: tf.Tensor4D, conv: ConvBn, index: number, weights: readonly tf.Variable[], buffers: readonly tf.Variable[], training: boolean): tf.Tensor4D {
  const kernel = weights[3 * index] as tf.Tensor4D;
  const padded = tf.conv2d(x, kernel, conv.stride, conv.size === 3 ? 1 : 0);
  return batchNorm(padded, weights.slice(3 * index + 1, 3 * index + 3), buffers.slice(2 * index, 2 * index + 2), training);
}

/** A network as layers, each with its convs and a forward step. */
interface Block {
  readonly spec: LayerSpec;
  forward(x: tf.Tensor4D, weights: readonly tf.Variable[], buffers: readonly tf.Variable[], training: boolean): tf.Tensor4D;
}

/** kuangliu's BasicBlock: relu(bn(conv(relu(bn(conv(x)))))) + shortcut(x)), shortcut 1×1 conv + bn when the shape changes. */
function basicBlock(name: string, inputs: number, outputs: number, stride: number): Block {
  const convs: ConvBn[] = [
    { name: 'conv1', size: 3, inputs, outputs, stride },
    { name: 'conv2', size: 3, inputs: outputs, outputs, stride: 1 },
  ];
  const projected = stride !== 1 || inputs !== outputs;
  if (projected) convs.push({ name: 'shortcut', size: 1, inputs, outputs, stride });
  return {
    spec: convBnLayer(name, convs),
    forward(x, weights, buffers, training) {
      const h = tf.relu(convBn(x, convs[0], 0, weights, buffers, training));
      const out = convBn(h, convs[1], 1, weights, buffers, training);
      const shortcut = projected ? convBn(x, convs[2], 2, weights, buffers, training) : x;
      return tf.relu(tf.add(out, shortcut)) as tf.Tensor4D;
    },
  };
}

/** Page's `conv_bn` (conv-bn-relu), max-pooled by 2 when `pool`. */
function pageUnit(name: string, conv: ConvBn, pool: boolean): Block {
  return {
    spec: convBnLayer(name, [conv]),
    forward(x, weights, buffers, training) {
      const h = tf.relu(convBn(x, conv, 0, weights, buffers, training));
      return pool ? tf.maxPool(h, 2, 2, 'valid') : h;
    },
  };
}

/** Page's residual: x + conv_bn(conv_bn(x)), channels unchanged. */
function pageResidual(name: string, channels: number): Block {
  const convs = [conv3('conv1', channels, channels), conv3('conv2', channels, channels)];
  return {
    spec: convBnLayer(name, convs),
    forward(x, weights, buffers, training) {
      const h = tf.relu(convBn(x, convs[0], 0, weights, buffers, training));
      return tf.add(x, tf.relu(convBn(h, convs[1], 1, weights, buffers, training))) as tf.Tensor4D;
    },
  };
}

function conv3(name: string, inputs: number, outputs: number, stride = 1): ConvBn {
  return { name, size: 3, inputs, outputs, stride };
}

function resnet18Blocks(channels: number, width: number): Block[] {
  const blocks: Block[] = [pageUnit('stem', conv3('conv', channels, width), false)];
  let inputs = width;
  [1, 2, 4, 8].forEach((factor, stage) => {
    const outputs = factor * width;
    blocks.push(basicBlock(`layer${stage + 1}.0`, inputs, outputs, stage === 0 ? 1 : 2));
    blocks.push(basicBlock(`layer${stage + 1}.1`, outputs, outputs, 1));
    inputs = outputs;
  });
  return blocks;
}

function resnet9Blocks(channels: number, width: number): Block[] {
  const [c1, c2, c3, c4] = [width, 2 * width, 4 * width, 8 * width];
  return [
    pageUnit('prep', conv3('conv', channels, c1), false),
    pageUnit('layer1', conv3('conv', c1, c2), true),
    pageResidual('res1', c2),
    pageUnit('layer2', conv3('conv', c2, c3), true),
    pageUnit('layer3', conv3('conv', c3, c4), true),
    pageResidual('res3', c4),
  ];
}

function resnetArchitecture(options: ResnetOptions, shape: ModelShape): Architecture {
  const [height, width, channels] = shape.inputShape;
  if (shape.inputShape.length !== 3 || height < 8 || width < 8) {
    throw new RangeError(`resnet needs images of shape [height, width, channels] with height and width ≥ 8; got [${shape.inputShape.join(', ')}]`);
  }
  const resnet9 = options.variant === 'resnet-9';
  const blocks = resnet9 ? resnet9Blocks(channels, options.width) : resnet18Blocks(channels, options.width);
  const features = 8 * options.width;
  const head = torchDenseLayer('fc', features, shape.numClasses);
  return {
    id: options.variant,
    inputShape: [...shape.inputShape],
    numClasses: shape.numClasses,
    layers: [...blocks.map((block) => block.spec), head],
    forward(x, weights, state: ForwardState) {
      let h = x as tf.Tensor4D;
      blocks.forEach((block, i) => {
        h = block.forward(h, weights[i], state.buffers[i], state.training);
      });
      // Global pooling: average for resnet-18 (avg_pool2d(4) on its 4×4 map at 32×32), max for resnet-9.
      const pooled = (resnet9 ? tf.max(h, [1, 2]) : tf.mean(h, [1, 2])) as tf.Tensor2D;
      return dense(pooled, weights[blocks.length]);
    },
  };
}

/** `resnet`: CIFAR ResNet-18 or DAWNBench ResNet-9 with batch normalisation. */
export const resnetModel = defineModel<ResnetOptions>({
  id: 'resnet',
  description: 'Residual network with batch norm: the CIFAR ResNet-18 of the study (kuangliu/pytorch-cifar) or the DAWNBench ResNet-9; width sets the base channels.',
  capabilities: MODEL_CAPABILITIES,
  references: [
    { title: 'He et al., Deep Residual Learning for Image Recognition, CVPR 2016', url: 'https://arxiv.org/abs/1512.03385' },
    { title: 'kuangliu/pytorch-cifar, models/resnet.py (the CIFAR ResNet-18)', url: 'https://github.com/kuangliu/pytorch-cifar/blob/master/models/resnet.py' },
    { title: 'D. Page, How to train your ResNet (DAWNBench ResNet-9), myrtle.ai 2018', url: 'https://myrtle.ai/learn/how-to-train-your-resnet/' },
  ],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      variant: { enum: ['resnet-18', 'resnet-9'], default: 'resnet-18', description: 'resnet-18: the study\'s CIFAR ResNet-18; resnet-9: the DAWNBench ResNet-9 of the corrective-unlearning benchmark.' },
      width: { type: 'integer', minimum: 1, maximum: 512, default: 64, description: 'Channels of the first stage (later stages 2×, 4×, 8×); 64 is the standard network, 8–16 run on a CPU.' },
    },
  },
  create(options, shape) {
    const architecture = resnetArchitecture(options, shape);
    return { build: (rng) => buildModel(architecture, rng) };
  },
});
