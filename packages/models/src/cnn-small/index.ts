/**
 * `cnn-small`: the small convolutional network of the benchmark (BENCHMARK.md): conv 3×3 (width)
 * + ReLU → max-pool 2 → conv 3×3 (2·width) + ReLU → max-pool 2 → flatten → dense + ReLU → dense
 * logits. Convolutions use stride 1 and same padding; pooling floors odd sizes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineModel, type ModelShape } from '@unlearn-bench/core';
import { buildModel, conv2dSame, conv3x3Layer, dense, denseLayer, MODEL_CAPABILITIES, type Architecture } from '../layers.ts';

/** Options of `cnn-small`. */
export interface CnnSmallOptions {
  /** Filters of the first convolution; the second has twice as many. @default 32 */
  readonly width: number;
  /** Units of the hidden dense layer. @default 128 */
  readonly dense: number;
}

function cnnSmallArchitecture(options: CnnSmallOptions, shape: ModelShape): Architecture {
  const [height, width, channels] = shape.inputShape;
  if (shape.inputShape.length !== 3 || height < 4 || width < 4) {
    throw new RangeError(
      `cnn-small needs images of shape [height, width, channels] with height and width ≥ 4; got [${shape.inputShape.join(', ')}] (use mlp for other inputs)`,
    );
  }
  const filters = 2 * options.width;
  const flat = Math.floor(height / 4) * Math.floor(width / 4) * filters;
  return {
    id: 'cnn-small',
    inputShape: [...shape.inputShape],
    numClasses: shape.numClasses,
    layers: [
      conv3x3Layer('conv1', channels, options.width),
      conv3x3Layer('conv2', options.width, filters),
      denseLayer('dense1', flat, options.dense),
      denseLayer('dense2', options.dense, shape.numClasses),
    ],
    forward(x, [conv1, conv2, dense1, dense2]) {
      let h = tf.maxPool(conv2dSame(x as tf.Tensor4D, conv1, 'relu'), 2, 2, 'valid');
      h = tf.maxPool(conv2dSame(h, conv2, 'relu'), 2, 2, 'valid');
      const features = dense(tf.reshape(h, [-1, flat]) as tf.Tensor2D, dense1, 'relu');
      return dense(features, dense2);
    },
  };
}

/** `cnn-small`: two conv + max-pool blocks and two dense layers. */
export const cnnSmallModel = defineModel<CnnSmallOptions>({
  id: 'cnn-small',
  description: 'Small CNN: two 3×3 conv + ReLU + max-pool blocks (width, 2·width filters), dense + ReLU, dense logits.',
  capabilities: MODEL_CAPABILITIES,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      width: { type: 'integer', minimum: 1, maximum: 1024, default: 32, description: 'Filters of the first convolution; the second has twice as many.' },
      dense: { type: 'integer', minimum: 1, maximum: 16384, default: 128, description: 'Units of the hidden dense layer.' },
    },
  },
  create(options, shape) {
    const architecture = cnnSmallArchitecture(options, shape);
    return { build: (rng) => buildModel(architecture, rng) };
  },
});
