/**
 * SalUn — saliency-based unlearning (Fan et al., ICLR 2024, arXiv 2310.12508), packaged the way an
 * outside contributor would publish a method for unlearn-bench: it depends only on the public
 * entry of @unlearn-bench/core.
 *
 * 1. Saliency: the gradient of the forget-set loss at the given model; the `sparsity` fraction of
 *    parameters with the largest |gradient| are salient (mask 1), the rest frozen.
 * 2. Random labelling: SGD that updates only salient parameters on
 *      CE(forget points, random wrong labels) + α · CE(retain points),
 *    one forget batch and one retain batch per step, until the budget is spent.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  API_VERSION,
  crossEntropy,
  defineUnlearner,
  definePlugin,
  inputsTensor,
  labelsTensor,
  type ClassifierModel,
  type Examples,
  type Rng,
} from '@unlearn-bench/core';

/** Options of `salun/salun`. */
export interface SalunOptions {
  /** Fraction of parameters updated (the most salient). @default 0.5 */
  readonly sparsity: number;
  /** Weight α of the retain loss. @default 1 */
  readonly alpha: number;
  /** Learning rate; null uses the training recipe's. @default null */
  readonly learningRate: number | null;
  /** Examples per batch (forget and retain each); null uses the training recipe's. @default null */
  readonly batchSize: number | null;
}

/** |value| threshold above which a parameter is among the top `sparsity` fraction of `magnitudes`. */
export function saliencyThreshold(magnitudes: Float32Array, sparsity: number): number {
  if (sparsity >= 1) return Number.NEGATIVE_INFINITY;
  const sorted = Float32Array.from(magnitudes).sort();
  const keep = Math.max(1, Math.round(sparsity * sorted.length));
  return sorted[sorted.length - keep];
}

/** 0/1 masks, one per parameter, marking the salient entries for the forget set. */
function saliencyMasks(model: ClassifierModel, forget: Examples, sparsity: number): tf.Tensor[] {
  const variables = model.parameters() as tf.Variable[];
  const gradients = tf.tidy(() => {
    const x = inputsTensor(forget);
    const y = labelsTensor(forget);
    const { grads } = tf.variableGrads(() => crossEntropy(model.logits(x), y), variables);
    return variables.map((v) => tf.abs(grads[v.name]));
  });
  const all = new Float32Array(gradients.reduce((n, g) => n + g.size, 0));
  let offset = 0;
  for (const g of gradients) {
    all.set(g.dataSync() as Float32Array, offset);
    offset += g.size;
  }
  const threshold = saliencyThreshold(all, sparsity);
  const masks = gradients.map((g) => tf.tidy(() => tf.cast(tf.greaterEqual(g, threshold), 'float32')));
  tf.dispose(gradients);
  return masks;
}

/** Random labels different from the true ones. */
function wrongLabels(labels: Int32Array, numClasses: number, rng: Rng): Int32Array {
  return labels.map((y) => (y + 1 + rng.int(numClasses - 1)) % numClasses);
}

const salun = defineUnlearner<SalunOptions>({
  id: 'salun',
  description: 'SalUn: random-label unlearning on the forget set (plus retain loss) that updates only the parameters most salient for the forget set.',
  requires: ['parameters'],
  references: [{ title: 'Fan et al., SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency, ICLR 2024', url: 'https://arxiv.org/abs/2310.12508' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      sparsity: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5, description: 'Fraction of parameters updated (the most salient for the forget set).' },
      alpha: { type: 'number', minimum: 0, default: 1, description: 'Weight of the retain loss.' },
      learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Learning rate; null uses the training recipe’s.' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Examples per batch (forget and retain each); null uses the training recipe’s.' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        const student = model.clone();
        const variables = student.parameters() as tf.Variable[];
        ctx.meter.spend(forget.count); // the saliency gradient: one pass over the forget set
        const masks = saliencyMasks(student, forget, options.sparsity);
        const rng = ctx.rng.fork('steps');
        const relabelled: Examples = { ...forget, labels: wrongLabels(forget.labels, student.numClasses, ctx.rng.fork('labels')) };
        const batch = options.batchSize ?? training.batchSize;
        const learningRate = options.learningRate ?? training.learningRate;
        try {
          while (ctx.meter.remaining >= 2) {
            const size = Math.min(batch, Math.floor(ctx.meter.remaining / 2));
            const forgetRows = Int32Array.from({ length: Math.min(size, forget.count) }, () => rng.int(forget.count));
            const retainRows = Int32Array.from({ length: size }, () => rng.int(retain.count));
            ctx.meter.spend(forgetRows.length + retainRows.length);
            tf.tidy(() => {
              const { grads } = tf.variableGrads(() => {
                const forgetLoss = crossEntropy(student.logits(inputsTensor(relabelled, forgetRows)), labelsTensor(relabelled, forgetRows));
                const retainLoss = crossEntropy(student.logits(inputsTensor(retain, retainRows)), labelsTensor(retain, retainRows));
                return tf.add(forgetLoss, tf.mul(retainLoss, options.alpha)) as tf.Scalar;
              }, variables);
              variables.forEach((v, i) => v.assign(tf.sub(v, tf.mul(tf.mul(grads[v.name], masks[i]), learningRate))));
            });
          }
        } finally {
          tf.dispose(masks);
        }
        return student;
      },
    };
  },
});

/** The plugin: namespace `salun`, one unlearner `salun/salun`. */
export default definePlugin({
  meta: { name: '@unlearn-bench/plugin-salun', version: '0.1.0', namespace: 'salun', apiVersion: API_VERSION },
  unlearners: [salun],
});

export { salun as salunUnlearner };
