import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from './rng.ts';
import './tf-gradients.ts';

// Double backprop (a gradient of a gradient) against central finite differences of first-order
// gradients, on the pure-JavaScript cpu backend (the wasm backend is checked with real models in
// packages/attacks/src/surrogate.test.ts). All in float32: the finite differences are good to about
// 1e-3 relative; the bound is 1e-2. With tfjs-core's own registrations every case here fails: the
// second derivative of exp, sigmoid, tanh, softmax (and tf.logSoftmax) is treated as 0 (here the outer
// tf.grad throws that y does not depend on x; inside a network, whose gradient depends on x by other
// paths too, the values are silently wrong), and conv2d/maxPool/max have no second-order gradient at all (checked by importing '@tensorflow/tfjs' instead of ./tf-gradients.ts).

const BOUND = 1e-2;
const randn = (seed: number, shape: number[], scale = 1) => tf.mul(tf.tensor(createRng(seed).normalArray(shape.reduce((a, b) => a * b, 1)), shape), scale);

/** ‖a − b‖ / ‖b‖. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)).dataSync()[0]);
}

/** H·v of f at x by double backprop, and by a central difference of ∇f along v. */
function hessianVector(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, v: tf.Tensor, h: number): { exact: tf.Tensor; fd: tf.Tensor } {
  const grad = tf.grad(f);
  const exact = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(grad(input), v)) as tf.Scalar)(x);
  const fd = tf.div(tf.sub(grad(tf.add(x, tf.mul(v, h))), grad(tf.sub(x, tf.mul(v, h)))), 2 * h);
  return { exact, fd };
}

/** Softmax cross-entropy written as logSumExp(z) − z_y (twice differentiable, unlike tf.logSoftmax). */
function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), logits), 1))) as tf.Scalar;
}

/**
 * ∇ₓ⟨∇_θ L(θ; x), d⟩ (the mixed derivative of gradient matching) by double backprop, and by a central
 * difference along u of ⟨∇_θ L(θ; x), d⟩ compared with the exact gradient projected on u.
 */
function mixedCheck(loss: (x: tf.Tensor, params: tf.Variable[]) => tf.Scalar, params: tf.Variable[], x: tf.Tensor, seed: number, h: number): { exact: number; fd: number } {
  return tf.tidy(() => {
    const d = params.map((p, i) => randn(seed + i, p.shape));
    const inner = (input: tf.Tensor) => {
      const { grads } = tf.variableGrads(() => loss(input, params), params);
      return tf.addN(params.map((p, i) => tf.sum(tf.mul(grads[p.name], d[i])))) as tf.Scalar;
    };
    const u = randn(seed + 100, x.shape);
    const exact = tf.sum(tf.mul(tf.grad(inner)(x), u)).dataSync()[0];
    const fd = (inner(tf.add(x, tf.mul(u, h))).dataSync()[0] - inner(tf.sub(x, tf.mul(u, h))).dataSync()[0]) / (2 * h);
    return { exact, fd };
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

describe('second-order gradients (tf-gradients.ts)', () => {
  it.each([
    ['exp', (x: tf.Tensor) => tf.sum(tf.mul(tf.exp(x), tf.range(1, 7).reshape([2, 3]))) as tf.Scalar],
    ['sigmoid', (x: tf.Tensor) => tf.sum(tf.mul(tf.sigmoid(x), tf.range(1, 7).reshape([2, 3]))) as tf.Scalar],
    ['tanh', (x: tf.Tensor) => tf.sum(tf.mul(tf.tanh(x), tf.range(1, 7).reshape([2, 3]))) as tf.Scalar],
    ['softmax', (x: tf.Tensor) => tf.sum(tf.mul(tf.softmax(x), tf.range(1, 7).reshape([2, 3]))) as tf.Scalar],
    ['logSumExp', (x: tf.Tensor) => tf.sum(tf.mul(tf.logSumExp(x, 1), tf.tensor1d([1, -2]))) as tf.Scalar],
  ])('%s: Hessian-vector product by double backprop matches finite differences', (_, f) => {
    tf.tidy(() => {
      const x = randn(1, [2, 3], 0.7);
      const { exact, fd } = hessianVector(f, x, randn(2, [2, 3]), 1e-2);
      expect(relativeError(exact, fd)).toBeLessThan(BOUND);
    });
  });

  it('conv2d and max pooling: second derivatives through the filter gradient and the pooling gradient', () => {
    tf.tidy(() => {
      const filter = tf.variable(randn(3, [3, 3, 1, 2], 0.5), true, 'tfg-filter');
      const loss = (x: tf.Tensor, [w]: tf.Variable[]) => tf.sum(tf.square(tf.maxPool(tf.relu(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')), 2, 2, 'valid'))) as tf.Scalar;
      const x = tf.abs(randn(4, [2, 6, 6, 1]));
      const { exact, fd } = mixedCheck(loss, [filter], x, 5, 1e-3);
      expect(Math.abs(exact - fd) / Math.abs(fd)).toBeLessThan(BOUND);
      filter.dispose();
    });
  });

  it('overlapping max pooling says that its second derivative is not implemented', () => {
    tf.tidy(() => {
      const f = (x: tf.Tensor) => tf.sum(tf.square(tf.maxPool(x as tf.Tensor4D, 3, 1, 'valid'))) as tf.Scalar;
      expect(() => hessianVector(f, randn(6, [1, 5, 5, 1]), randn(7, [1, 5, 5, 1]), 1e-2)).toThrow(/non-overlapping windows only/);
    });
  });

  it.each([
    ['softmax regression', [] as number[]],
    ['an MLP [16]', [16]],
  ])('%s: ∇ₓ⟨∇_θ L, d⟩ of the cross-entropy by double backprop matches finite differences', (_, hidden) => {
    const sizes = [12, ...hidden, 4];
    const params: tf.Variable[] = [];
    sizes.slice(1).forEach((units, l) => {
      params.push(tf.variable(randn(10 + l, [sizes[l], units], 1 / Math.sqrt(sizes[l])), true, `tfg-mlp${hidden.length}-w${l}`));
      params.push(tf.variable(randn(20 + l, [units], 0.1), true, `tfg-mlp${hidden.length}-b${l}`));
    });
    const labels = tf.tensor1d([0, 3, 1, 2, 3], 'int32');
    const loss = (x: tf.Tensor, p: tf.Variable[]) => {
      let h = x as tf.Tensor2D;
      for (let l = 0; l < p.length; l += 2) {
        h = tf.add(tf.matMul(h, p[l] as tf.Tensor2D), p[l + 1]);
        if (l + 2 < p.length) h = tf.relu(h);
      }
      return crossEntropy(h, labels);
    };
    const x = randn(30, [5, 12]);
    for (const seed of [40, 50]) {
      const { exact, fd } = mixedCheck(loss, params, x, seed, 1e-3);
      expect(Math.abs(exact - fd) / Math.abs(fd)).toBeLessThan(BOUND);
    }
    tf.dispose([...params, labels, x]);
  });
});
