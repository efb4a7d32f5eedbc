/**
 * core/resnet: the published parameter counts, batch norm against a plain-loop reference (training
 * and evaluation mode, running statistics), gradients against the cpu backend and central finite
 * differences, layer re-initialisation resetting batch-norm state, and learning a small image task.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter, createRng, crossEntropy, inTrainingMode, silentLogger, trainSgd, accuracy, type ClassifierModel, type PluginContext } from '@unlearn-bench/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../engine/index.ts';
import { batchNorm, BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM } from '../layers.ts';
import { syntheticImagesDataset } from '../synthetic-images/index.ts';
import { resnetModel, type ResnetOptions } from './index.ts';

const ctx: PluginContext = { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() };

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
});

afterAll(async () => {
  await tf.setBackend('wasm');
});

function build(options: ResnetOptions, inputShape: number[], numClasses: number, seed = 1): ClassifierModel {
  return resnetModel.create(options, { inputShape, numClasses }, ctx).build(createRng(seed)) as ClassifierModel;
}

const count = (model: ClassifierModel): number => model.parameters().reduce((n, v) => n + v.size, 0);

describe('core/resnet architecture', () => {
  it('has the published parameter counts at width 64 on CIFAR-10', () => {
    // 11,173,962: kuangliu/pytorch-cifar's ResNet18() for 10 classes (convs without bias, BN γ/β, fc with bias).
    const r18 = build({ variant: 'resnet-18', width: 64 }, [32, 32, 3], 10);
    // 6,575,370 is the widely used ResNet-9 with conv biases; Page's convs have none: 6,575,370 − 2,240.
    const r9 = build({ variant: 'resnet-9', width: 64 }, [32, 32, 3], 10);
    try {
      expect(count(r18)).toBe(11_173_962);
      expect(count(r9)).toBe(6_573_130);
      expect(r18.layers().map((l) => l.name)).toEqual(['stem', 'layer1.0', 'layer1.1', 'layer2.0', 'layer2.1', 'layer3.0', 'layer3.1', 'layer4.0', 'layer4.1', 'fc']);
      expect(r9.layers().map((l) => l.name)).toEqual(['prep', 'layer1', 'res1', 'layer2', 'layer3', 'res3', 'fc']);
      // Two buffers (mean, variance) per batch norm: 20 BNs in resnet-18 (17 + 3 shortcuts), 8 in resnet-9.
      expect(r18.buffers!().length).toBe(40);
      expect(r9.buffers!().length).toBe(16);
      expect(r18.getWeights().length).toBe(r18.parameters().length + 40);
    } finally {
      r18.dispose();
      r9.dispose();
    }
  });

  it('gives logits for 28×28×1 and 32×32×3 inputs, and refuses inputs too small', () => {
    for (const variant of ['resnet-18', 'resnet-9'] as const) {
      for (const shape of [[28, 28, 1], [32, 32, 3]]) {
        const model = build({ variant, width: 2 }, shape, 10);
        const logits = tf.tidy(() => model.logits(tf.randomNormal([2, ...shape])));
        expect(logits.shape).toEqual([2, 10]);
        tf.dispose(logits);
        model.dispose();
      }
    }
    expect(() => build({ variant: 'resnet-18', width: 2 }, [784], 10)).toThrow(/height, width, channels/);
  });
});

describe('batch norm', () => {
  // A plain-loop reference over [n, h, w, c] values, as PyTorch's BatchNorm2d defines it.
  function reference(x: Float32Array, channels: number, gamma: number[], beta: number[], mean?: number[], variance?: number[]) {
    const n = x.length / channels;
    const batchMean = Array.from({ length: channels }, (_, c) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i * channels + c];
      return s / n;
    });
    const batchVariance = batchMean.map((m, c) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i * channels + c] - m) ** 2;
      return s / n;
    });
    const [useMean, useVariance] = mean && variance ? [mean, variance] : [batchMean, batchVariance];
    const y = Array.from(x, (v, i) => {
      const c = i % channels;
      return ((v - useMean[c]) / Math.sqrt(useVariance[c] + BATCH_NORM_EPSILON)) * gamma[c] + beta[c];
    });
    return { y, batchMean, batchVariance, n };
  }

  it('normalises with batch statistics and moves the running ones in training mode; uses the running ones in evaluation mode', () => {
    const rng = createRng(3);
    const [n, h, w, c] = [3, 4, 5, 2];
    const x = Float32Array.from({ length: n * h * w * c }, () => 2 + 3 * rng.normal());
    const gamma = [1.5, -0.5];
    const beta = [0.25, 1];
    const params = [tf.variable(tf.tensor1d(gamma)), tf.variable(tf.tensor1d(beta))];
    const buffers = [tf.variable(tf.tensor1d([0.5, -1]), false), tf.variable(tf.tensor1d([2, 0.5]), false)];
    try {
      const input = tf.tensor4d(x, [n, h, w, c]);
      const trained = batchNorm(input, params, buffers, true);
      const expected = reference(x, c, gamma, beta);
      expect(Math.max(...Array.from(trained.dataSync(), (v, i) => Math.abs(v - expected.y[i])))).toBeLessThan(1e-4);
      const m = BATCH_NORM_MOMENTUM;
      const runningMean = [0.5, -1].map((r, k) => (1 - m) * r + m * expected.batchMean[k]);
      const runningVariance = [2, 0.5].map((r, k) => (1 - m) * r + m * expected.batchVariance[k] * (expected.n / (expected.n - 1)));
      expect(Array.from(buffers[0].dataSync()).map((v, k) => v - runningMean[k]).every((d) => Math.abs(d) < 1e-5)).toBe(true);
      expect(Array.from(buffers[1].dataSync()).map((v, k) => v - runningVariance[k]).every((d) => Math.abs(d) < 1e-5)).toBe(true);

      const evaluated = batchNorm(input, params, buffers, false);
      const expectedEval = reference(x, c, gamma, beta, runningMean, runningVariance);
      expect(Math.max(...Array.from(evaluated.dataSync(), (v, i) => Math.abs(v - expectedEval.y[i])))).toBeLessThan(1e-4);
      expect(Array.from(buffers[0].dataSync()).map((v, k) => v - runningMean[k]).every((d) => Math.abs(d) < 1e-5)).toBe(true);
      tf.dispose([input, trained, evaluated]);
    } finally {
      tf.dispose([...params, ...buffers]);
    }
  });
});

describe('gradients', () => {
  const shape = [8, 8, 3];
  const batch = 4;

  /** Loss and gradients (every parameter, then the input) of `model` on (x, y), in training or evaluation mode. */
  function gradients(model: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D, training: boolean): { loss: number; grads: Float32Array[] } {
    const view = training ? inTrainingMode(model) : model;
    const parameters = model.parameters() as tf.Variable[];
    const state = model.getWeights();
    return tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(view.logits(x), y), parameters);
      const inputGrad = tf.grad((input: tf.Tensor) => crossEntropy(view.logits(input), y))(x);
      model.setWeights(state); // the two training-mode passes moved the running statistics
      return { loss: value.dataSync()[0], grads: [...parameters.map((p) => grads[p.name].dataSync().slice() as Float32Array), inputGrad.dataSync().slice() as Float32Array] };
    });
  }

  function maxRelativeError(a: Float32Array[], b: Float32Array[]): number {
    let worst = 0;
    a.forEach((g, i) => {
      const scale = Math.max(1e-3, ...Array.from(b[i], Math.abs));
      for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j] - b[i][j]) / scale);
    });
    return worst;
  }

  for (const variant of ['resnet-18', 'resnet-9'] as const) {
    it(`${variant}: wasm (with the engine's kernels) agrees with the cpu backend in training and evaluation mode`, async () => {
      const rng = createRng(11);
      const xs = Float32Array.from({ length: batch * 8 * 8 * 3 }, () => rng.normal());
      const ys = Int32Array.from({ length: batch }, (_, i) => i % 3);
      const model = build({ variant, width: 2 }, shape, 3, 5);
      // Non-trivial running statistics, so evaluation mode differs from training mode.
      tf.tidy(() => model.logits(tf.tensor4d(xs, [batch, ...shape] as [number, number, number, number]), { training: true }));
      const weights = model.getWeights();
      const run = (): { loss: number; grads: Float32Array[] }[] => {
        const x = tf.tensor4d(xs, [batch, ...shape] as [number, number, number, number]);
        const y = tf.tensor1d(ys, 'int32');
        const out = [gradients(model, x, y, true), gradients(model, x, y, false)];
        tf.dispose([x, y]);
        return out;
      };
      const wasm = run();
      model.dispose();
      await tf.setBackend('cpu');
      const onCpu = build({ variant, width: 2 }, shape, 3, 5);
      onCpu.setWeights(weights);
      const model2 = onCpu;
      const cpu = (() => {
        const x = tf.tensor4d(xs, [batch, ...shape] as [number, number, number, number]);
        const y = tf.tensor1d(ys, 'int32');
        const out = [gradients(model2, x, y, true), gradients(model2, x, y, false)];
        tf.dispose([x, y]);
        return out;
      })();
      onCpu.dispose();
      await tf.setBackend('wasm');
      for (const mode of [0, 1]) {
        expect(Math.abs(wasm[mode].loss - cpu[mode].loss)).toBeLessThan(1e-4);
        expect(maxRelativeError(wasm[mode].grads, cpu[mode].grads)).toBeLessThan(1e-3);
      }
      expect(Math.abs(wasm[0].loss - wasm[1].loss)).toBeGreaterThan(1e-4);
    });
  }

  it('resnet-18: training-mode gradients match central finite differences (through the batch statistics)', async () => {
    await tf.setBackend('cpu');
    try {
      const rng = createRng(12);
      // 16×16 so the last stage's batch norm sees 2×2×4 values, not a near-degenerate 1×1×4.
      const model = build({ variant: 'resnet-18', width: 2 }, [16, 16, 3], 3, 6);
      const x = tf.tensor4d(Float32Array.from({ length: batch * 16 * 16 * 3 }, () => rng.normal()), [batch, 16, 16, 3]);
      const y = tf.tensor1d([0, 1, 2, 0], 'int32');
      const { grads } = gradients(model, x, y, true);
      const weights = model.getWeights();
      const loss = (w: Float32Array[]): number => {
        model.setWeights(w);
        const value = tf.tidy(() => crossEntropy(model.logits(x, { training: true }), y).dataSync()[0]);
        return value;
      };
      const h = 1e-4; // the network is far from linear at width 2: larger steps cross ReLU kinks through the early layers
      const probe = createRng(13);
      let checked = 0;
      // A few coordinates of every 5th parameter: stem kernel, BN γ/β, a stride-2 conv, a shortcut, fc.
      for (let p = 0; p < model.parameters().length; p += 5) {
        for (let k = 0; k < 2; k++) {
          const j = probe.int(weights[p].length);
          const plus = weights.map((w) => w.slice());
          const minus = weights.map((w) => w.slice());
          plus[p][j] += h;
          minus[p][j] -= h;
          const numeric = (loss(plus) - loss(minus)) / (2 * h);
          const name = model.parameters()[p].name;
          expect(Math.abs(numeric - grads[p][j]), `${name}[${j}]: numeric ${numeric}, analytic ${grads[p][j]}`).toBeLessThan(3e-3 + 0.05 * Math.abs(numeric));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(10);
      model.dispose();
      tf.dispose([x, y]);
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

describe('state', () => {
  it('re-initialising a layer resets its batch-norm statistics and leaves the others alone', () => {
    const model = build({ variant: 'resnet-18', width: 2 }, [8, 8, 3], 3);
    tf.tidy(() => model.logits(tf.randomNormal([4, 8, 8, 3], 3, 2, 'float32', 1), { training: true }));
    const layers = model.layers();
    const target = layers[layers.length - 2]; // layer4.1
    const before = layers[1].buffers!.map((b) => b.dataSync().slice());
    expect(target.buffers!.length).toBe(4);
    target.reinitialize(createRng(4));
    const [mean, variance] = target.buffers!;
    expect(Array.from(mean.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(variance.dataSync()).every((v) => v === 1)).toBe(true);
    expect(layers[1].buffers!.map((b) => b.dataSync().slice())).toEqual(before);
    model.dispose();
  });

  it('clone and setWeights carry the running statistics, so evaluation-mode logits agree', () => {
    const model = build({ variant: 'resnet-9', width: 2 }, [8, 8, 3], 3);
    const x = tf.randomNormal([4, 8, 8, 3], 1, 2, 'float32', 2);
    tf.tidy(() => model.logits(x, { training: true }));
    const copy = model.clone();
    const fresh = build({ variant: 'resnet-9', width: 2 }, [8, 8, 3], 3);
    const logits = (m: ClassifierModel) => tf.tidy(() => Array.from(m.logits(x).dataSync()));
    expect(logits(copy)).toEqual(logits(model));
    fresh.setWeights(model.getWeights());
    expect(logits(fresh)).toEqual(logits(model));
    // Parameters alone are not enough: the running statistics change evaluation-mode logits.
    const stale = build({ variant: 'resnet-9', width: 2 }, [8, 8, 3], 3);
    stale.setWeights([...model.getWeights().slice(0, model.parameters().length), ...stale.getWeights().slice(model.parameters().length)]);
    expect(logits(stale)).not.toEqual(logits(model));
    for (const m of [model, copy, fresh, stale]) m.dispose();
    x.dispose();
  });
});

describe('learning', () => {
  it('a narrow resnet-18 learns generated 16×16×3 images well above chance in five epochs (evaluation mode, so on running statistics)', async () => {
    // noise 1 around prototypes in [0, 1): a nearest-prototype task that needs more than one pixel.
    const data = await syntheticImagesDataset.create({ shape: [16, 16, 3], numClasses: 4, trainSize: 400, testSize: 200, noise: 1, seed: 2 }, ctx).load();
    const model = build({ variant: 'resnet-18', width: 4 }, [...data.train.inputShape], data.numClasses, 3);
    trainSgd(model, data.train, { epochs: 5, batchSize: 32, learningRate: 0.02, momentum: 0.9, weightDecay: 5e-4, rng: createRng(1), meter: createBudgetMeter() });
    const acc = accuracy(model, data.test);
    model.dispose();
    expect(acc).toBeGreaterThan(0.5); // chance is 0.25; 0.70 measured
  }, 60_000);
});
