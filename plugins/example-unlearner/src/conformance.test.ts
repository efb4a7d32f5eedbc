import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describeUnlearnerConformance } from '@unlearn-bench/core/testing';
import { beforeAll } from 'vitest';
import { salunUnlearner } from './index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// The same contract every built-in unlearner passes.
describeUnlearnerConformance(salunUnlearner);
describeUnlearnerConformance(salunUnlearner, { options: { sparsity: 0.1, alpha: 0 } });
