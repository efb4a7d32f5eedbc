import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRng, type Capability, type ClassifierModel, type Examples, type ModelLayer, type Rng } from '@unlearn-bench/core';
import { blobsDataset, createTestContext } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { cfKUnlearner } from './cf-k/index.ts';
import { euKUnlearner } from './eu-k/index.ts';
import { defaultK } from './last-layers.ts';
import { training } from './test-fixture.ts';

/** Init bound of the test model's kernels; biases start at `BIAS_INIT`, so a reset layer is recognisable. */
const KERNEL_LIMIT = 0.5;
const BIAS_INIT = 0.25;
let instances = 0;

/**
 * A ReLU network of dense layers `layer1` … `layerN` over the given widths: shaped like core/mlp
 * (3 layers for two hidden layers) or, with four layers, like core/cnn-small's conv1, conv2,
 * dense1, dense2 as far as layer-wise methods can tell.
 */
class DeepTestModel implements ClassifierModel {
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(['parameters', 'input-gradients', 'layers']);
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  private readonly modelLayers: ModelLayer[];

  constructor(private readonly widths: readonly number[], values?: readonly Float32Array[], rng?: Rng) {
    this.inputShape = [widths[0]];
    this.numClasses = widths[widths.length - 1];
    instances += 1;
    this.modelLayers = widths.slice(1).map((units, i) => {
      const shapes = [[widths[i], units], [units]];
      const parameters = shapes.map((shape, j) => tf.variable(tf.zeros(shape), true, `deep-test-${instances}-${i}-${j}`));
      const layer: ModelLayer = {
        name: `layer${i + 1}`,
        parameters,
        reinitialize: (r: Rng) => {
          const kernel = Float32Array.from({ length: widths[i] * units }, () => (2 * r.next() - 1) * KERNEL_LIMIT);
          tf.tidy(() => {
            parameters[0].assign(tf.tensor(kernel, shapes[0]));
            parameters[1].assign(tf.fill(shapes[1], BIAS_INIT));
          });
        },
      };
      return layer;
    });
    if (values) this.setWeights(values);
    else this.modelLayers.forEach((layer) => layer.reinitialize(rng ?? createRng(0)));
  }

  logits(inputs: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      let h = tf.reshape(inputs, [-1, this.widths[0]]) as tf.Tensor2D;
      this.modelLayers.forEach(({ parameters: [kernel, bias] }, i) => {
        h = tf.add(tf.matMul(h, kernel as tf.Tensor2D), bias);
        if (i < this.modelLayers.length - 1) h = tf.relu(h);
      });
      return h;
    });
  }
  parameters(): readonly tf.Variable[] {
    return this.modelLayers.flatMap((layer) => layer.parameters);
  }
  layers(): readonly ModelLayer[] {
    return this.modelLayers;
  }
  clone(): ClassifierModel {
    return new DeepTestModel(this.widths, this.getWeights());
  }
  getWeights(): Float32Array[] {
    return this.parameters().map((v) => (v.dataSync() as Float32Array).slice());
  }
  setWeights(weights: readonly Float32Array[]): void {
    this.parameters().forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(weights[i], v.shape))));
  }
  dispose(): void {
    tf.dispose([...this.parameters()]);
  }
}

let retain: Examples;
let forget: Examples;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const data = await blobsDataset.create({ trainSize: 200, testSize: 4, dimension: 8, separation: 3 }, createTestContext(1)).load();
  retain = data.train;
  forget = data.test;
});

/** Layer indices (0-based) whose parameters differ between the two weight lists. */
function changedLayers(model: ClassifierModel, before: Float32Array[], after: Float32Array[]): number[] {
  let p = 0;
  return model.layers().flatMap((layer, i) => {
    const changed = layer.parameters.some((_, j) => after[p + j].some((v, m) => v !== before[p + j][m]));
    p += layer.parameters.length;
    return changed ? [i] : [];
  });
}

const recipe = { learningRate: null, batchSize: null, momentum: null };

describe('EU-k and CF-k, layer by layer', () => {
  const shapes = { 'core/mlp-like (3 layers)': [8, 12, 12, 4], 'core/cnn-small-like (4 layers)': [8, 12, 12, 12, 4] };

  for (const [title, widths] of Object.entries(shapes)) {
    const layerCount = widths.length - 1;
    for (let k = 1; k <= layerCount; k++) {
      it(`${title}, k = ${k}: EU-k resets exactly the last ${k} layers to fresh draws; CF-k trains exactly them`, () => {
        const model = new DeepTestModel(widths, undefined, createRng(5));
        const models = { build: (rng: Rng) => new DeepTestModel(widths, undefined, rng) };
        const before = model.getWeights();
        const last = Array.from({ length: k }, (_, i) => layerCount - k + i);

        // A learning rate of 1e-12 leaves EU-k's layers at their fresh draws (to float32 precision).
        const reset = euKUnlearner.create({ ...recipe, k, learningRate: 1e-12 }, createTestContext(3, 64)).unlearn({ model, forget, retain, training, models }) as ClassifierModel;
        const resetWeights = reset.getWeights();
        expect(changedLayers(model, before, resetWeights)).toEqual(last);
        let p = 0;
        reset.layers().forEach((layer, i) => {
          if (last.includes(i)) {
            expect(resetWeights[p].every((v) => Math.abs(v) <= KERNEL_LIMIT)).toBe(true);
            expect(resetWeights[p + 1].every((v) => Math.abs(v - BIAS_INIT) < 1e-6)).toBe(true);
          }
          p += layer.parameters.length;
        });
        reset.dispose();

        const tuned = cfKUnlearner.create({ ...recipe, k }, createTestContext(3, 64)).unlearn({ model, forget, retain, training, models }) as ClassifierModel;
        const tunedWeights = tuned.getWeights();
        expect(changedLayers(model, before, tunedWeights)).toEqual(last);
        tuned.dispose();
        model.dispose();
      });
    }

    it(`${title}: the default k is ⌈L/2⌉ = ${Math.ceil(layerCount / 2)}`, () => {
      const model = new DeepTestModel(widths, undefined, createRng(5));
      const models = { build: (rng: Rng) => new DeepTestModel(widths, undefined, rng) };
      const before = model.getWeights();
      for (const method of [euKUnlearner, cfKUnlearner]) {
        const after = method.create({ ...recipe, k: null }, createTestContext(3, 64)).unlearn({ model, forget, retain, training, models }) as ClassifierModel;
        const expected = Array.from({ length: Math.ceil(layerCount / 2) }, (_, i) => layerCount - Math.ceil(layerCount / 2) + i);
        expect(changedLayers(model, before, after.getWeights())).toEqual(expected);
        after.dispose();
      }
      model.dispose();
    });
  }

  it('defaultK: ⌈L/2⌉, at least 1', () => {
    expect([1, 2, 3, 4, 5].map(defaultK)).toEqual([1, 1, 2, 2, 3]);
  });
});
