import * as tf from '@tensorflow/tfjs-core';
import {
  createBudgetMeter,
  createExamples,
  createRng,
  inputGradients,
  perExampleLoss,
  silentLogger,
  trainSgd,
  type ClassifierModel,
  type ModelFactory,
  type PluginContext,
} from '@unlearn-bench/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cnnSmallModel } from './cnn-small/index.ts';
import { createEngine } from './engine/index.ts';
import { mlpModel } from './mlp/index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };
const shape = { inputShape: [8, 8, 1], numClasses: 3 };
const factories: [string, ModelFactory, string[]][] = [
  ['mlp', mlpModel.create({ hidden: [16, 12] }, shape, ctx), ['dense1', 'dense2', 'dense3']],
  ['cnn-small', cnnSmallModel.create({ width: 4, dense: 16 }, shape, ctx), ['conv1', 'conv2', 'dense1', 'dense2']],
];

function sameWeights(a: ClassifierModel, b: ClassifierModel): boolean {
  const wa = a.getWeights();
  const wb = b.getWeights();
  return wa.length === wb.length && wa.every((w, i) => w.length === wb[i].length && w.every((v, j) => v === wb[i][j]));
}

// The cpu backend keeps typed arrays it is given as tensor storage, so copying matters there.
describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await createEngine({ backend });
  });

  describe.each(factories)('%s model contract', (_name, factory, layerNames) => {
    it('draws identical weights from the same seed and different ones from another', () => {
      const a = factory.build(createRng(7));
      const b = factory.build(createRng(7));
      const c = factory.build(createRng(8));
      expect(sameWeights(a, b)).toBe(true);
      expect(sameWeights(a, c)).toBe(false);
      [a, b, c].forEach((m) => m.dispose());
    });

    it('lists its layers input to output, with kernel and bias each, in parameters() order', () => {
      expect(tf.getBackend()).toBe(backend);
      const model = factory.build(createRng(1));
      expect(model.layers().map((layer) => layer.name)).toEqual(layerNames);
      expect(model.layers().flatMap((layer) => layer.parameters)).toEqual(model.parameters());
      expect(model.layers().every((layer) => layer.parameters.length === 2)).toBe(true);
      expect([...model.capabilities].sort()).toEqual(['input-gradients', 'layers', 'parameters']);
      const logits = model.logits(tf.zeros([5, ...shape.inputShape]));
      expect(logits.shape).toEqual([5, 3]);
      logits.dispose();
      model.dispose();
    });

    it('draws kernels He-uniform and biases zero', () => {
      const model = factory.build(createRng(1));
      for (const layer of model.layers()) {
        const [kernel, bias] = layer.parameters;
        const fanIn = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const limit = Math.sqrt(6 / fanIn);
        const values = kernel.dataSync() as Float32Array;
        const maxAbs = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(maxAbs).toBeLessThanOrEqual(limit);
        expect(maxAbs).toBeGreaterThan(0.8 * limit);
        expect(Array.from(bias.dataSync()).every((v) => v === 0)).toBe(true);
      }
      model.dispose();
    });

    it('clones equal weights into independent variables', () => {
      const model = factory.build(createRng(3));
      const copy = model.clone();
      expect(sameWeights(model, copy)).toBe(true);
      expect(copy.parameters().map((v) => v.name)).not.toEqual(model.parameters().map((v) => v.name));
      const before = model.getWeights();
      copy.layers()[0].reinitialize(createRng(99));
      copy.parameters()[1].assign(tf.onesLike(copy.parameters()[1]));
      expect(sameWeights(model, copy)).toBe(false);
      expect(model.getWeights()).toEqual(before);
      copy.dispose();
      // The original still works after its clone is gone.
      const logits = model.logits(tf.ones([1, ...shape.inputShape]));
      expect(logits.shape).toEqual([1, 3]);
      logits.dispose();
      model.dispose();
    });

    it('round-trips getWeights/setWeights and copies in both directions', () => {
      const source = factory.build(createRng(4));
      const target = factory.build(createRng(5));
      const weights = source.getWeights();
      target.setWeights(weights);
      expect(sameWeights(source, target)).toBe(true);
      weights[0][0] += 1;
      expect(target.getWeights()[0][0]).toBe(source.getWeights()[0][0]);
      const x = tf.randomNormal([2, ...shape.inputShape], 0, 1, 'float32', 1);
      const [ls, lt] = [source.logits(x), target.logits(x)];
      expect(Array.from(lt.dataSync())).toEqual(Array.from(ls.dataSync()));
      tf.dispose([x, ls, lt]);
      source.dispose();
      target.dispose();
    });

    it('rejects weights of the wrong count or size', () => {
      const model = factory.build(createRng(1));
      const weights = model.getWeights();
      expect(() => model.setWeights(weights.slice(1))).toThrow(
        `setWeights got ${weights.length - 1} arrays, expected ${weights.length} (one per parameter)`,
      );
      const wrong = weights.map((w, i) => (i === 1 ? w.subarray(1) : w));
      expect(() => model.setWeights(wrong)).toThrow(/^setWeights: array 1 \(\S+\/bias\) has \d+ values, expected \d+$/);
      expect(sameWeights(model, model.clone())).toBe(true);
      model.dispose();
    });

    it('reinitialize re-draws one layer from its initialiser and leaves the others', () => {
      const model = factory.build(createRng(6));
      const before = model.getWeights();
      const layers = model.layers();
      const target = layers.length - 2;
      layers[target].parameters[1].assign(tf.onesLike(layers[target].parameters[1]));
      layers[target].reinitialize(createRng(11));
      const after = model.getWeights();
      let offset = 0;
      layers.forEach((layer, i) => {
        layer.parameters.forEach((_, j) => {
          const index = offset + j;
          if (i !== target) expect(after[index]).toEqual(before[index]);
        });
        offset += layer.parameters.length;
      });
      const kernelIndex = layers.slice(0, target).reduce((n, layer) => n + layer.parameters.length, 0);
      expect(after[kernelIndex]).not.toEqual(before[kernelIndex]);
      expect(Array.from(after[kernelIndex + 1]).every((v) => v === 0)).toBe(true);
      // Same rng, same draw.
      const again = model.clone();
      again.layers()[target].reinitialize(createRng(11));
      expect(sameWeights(model, again)).toBe(true);
      again.dispose();
      model.dispose();
    });

    it('gives input gradients of the loss that match central finite differences', () => {
      const model = factory.build(createRng(12));
      const rng = createRng(13);
      const size = shape.inputShape.reduce((a, b) => a * b, 1);
      const examples = createExamples(rng.normalArray(2 * size), Int32Array.from([0, 2]), shape.inputShape);
      const gradient = inputGradients(model, examples);
      // The 8 coordinates with the largest gradients, where float32 differences are meaningful.
      const coordinates = Array.from(gradient.keys()).sort((a, b) => Math.abs(gradient[b]) - Math.abs(gradient[a])).slice(0, 8);
      const eps = 3e-3; // small enough not to cross a ReLU or max-pool kink here, large for float32
      const perturbed = new Float32Array(2 * coordinates.length * size);
      const labels = new Int32Array(2 * coordinates.length);
      coordinates.forEach((coordinate, k) => {
        const example = Math.floor(coordinate / size);
        for (const [m, sign] of [[0, 1], [1, -1]]) {
          const row = 2 * k + m;
          perturbed.set(examples.inputs.subarray(example * size, (example + 1) * size), row * size);
          perturbed[row * size + (coordinate % size)] += sign * eps;
          labels[row] = examples.labels[example];
        }
      });
      const losses = perExampleLoss(model, createExamples(perturbed, labels, shape.inputShape));
      const errors = coordinates.map((coordinate, k) => {
        const numeric = (losses[2 * k] - losses[2 * k + 1]) / (2 * eps);
        return Math.abs(numeric - gradient[coordinate]) / Math.abs(gradient[coordinate]);
      });
      expect(Math.abs(gradient[coordinates[0]])).toBeGreaterThan(1e-2);
      expect(Math.max(...errors)).toBeLessThan(1e-2);
      model.dispose();
    });

    it('leaks no tensors through build, train, clone, gradients and dispose', () => {
      const rng = createRng(2);
      const size = shape.inputShape.reduce((a, b) => a * b, 1);
      const examples = createExamples(rng.normalArray(40 * size), Int32Array.from({ length: 40 }, (_, i) => i % 3), shape.inputShape);
      const before = tf.memory().numTensors;
      const model = factory.build(createRng(1));
      trainSgd(model, examples, {
        epochs: 2, batchSize: 16, learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4, rng: createRng(3), meter: createBudgetMeter(),
      });
      const copy = model.clone();
      copy.layers()[0].reinitialize(createRng(4));
      model.setWeights(copy.getWeights());
      inputGradients(model, examples);
      model.dispose();
      copy.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
