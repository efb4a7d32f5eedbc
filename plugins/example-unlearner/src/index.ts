/**
 * SalUn — saliency-based unlearning (Fan et al., ICLR 2024, arXiv 2310.12508), packaged the way an
 * outside contributor would publish a method for unlearn-bench: it depends only on the public
 * entry of @unlearn-bench/core.
 *
 * 1. Saliency: the gradient of the forget-set loss at the given model; parameters are ranked by
 *    |gradient| and exactly the top ⌊sparsity · n⌋ are salient (mask 1), the rest frozen (a budget
 *    below |U| uses a random half-budget subsample of U, with a warning).
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
  selectExamples,
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

/**
 * 0/1 mask over `magnitudes` marking the top `sparsity` fraction by value: ⌊sparsity · n⌋ entries
 * (at least 1), exactly, however many values tie. Entries are ranked by value, largest first, ties by
 * position (earlier first), as the authors' generate_mask.py ranks with argsort and keeps
 * rank < ⌊n · fraction⌋.
 */
export function saliencyMask(magnitudes: Float32Array, sparsity: number): Uint8Array {
  const n = magnitudes.length;
  const mask = new Uint8Array(n);
  const keep = Math.min(n, Math.max(1, Math.floor(sparsity * n)));
  if (keep === n) return mask.fill(1);
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => magnitudes[b] - magnitudes[a] || a - b);
  for (let r = 0; r < keep; r++) mask[order[r]] = 1;
  return mask;
}

/** 0/1 masks, one per parameter, marking the salient entries for `examples` (rows of the forget set). */
function saliencyMasks(model: ClassifierModel, examples: Examples, sparsity: number): tf.Tensor[] {
  const variables = model.parameters() as tf.Variable[];
  const gradients = tf.tidy(() => {
    const { grads } = tf.variableGrads(() => crossEntropy(model.logits(inputsTensor(examples)), labelsTensor(examples)), variables);
    return variables.map((v) => tf.abs(grads[v.name]));
  });
  const all = new Float32Array(gradients.reduce((n, g) => n + g.size, 0));
  let offset = 0;
  for (const g of gradients) {
    all.set(g.dataSync() as Float32Array, offset);
    offset += g.size;
  }
  tf.dispose(gradients);
  const mask = saliencyMask(all, sparsity);
  offset = 0;
  return variables.map((v) => {
    const part = Float32Array.from(mask.subarray(offset, offset + v.size));
    offset += v.size;
    return tf.tensor(part, v.shape, 'float32');
  });
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
        if (!Number.isFinite(ctx.meter.remaining)) throw new RangeError('salun/salun needs a finite budget');
        const student = model.clone();
        const variables = student.parameters() as tf.Variable[];
        // The saliency gradient takes one pass over U; a budget below |U| takes half of it for a
        // random subsample of U and leaves the other half for the unlearning steps.
        let salient = forget;
        if (ctx.meter.remaining < forget.count) {
          const size = Math.floor(ctx.meter.remaining / 2);
          if (size === 0) {
            ctx.logger.warn(`salun/salun: a budget of ${ctx.meter.remaining} examples leaves no room for the saliency gradient; returning the model unchanged`);
            return student;
          }
          ctx.logger.warn(`salun/salun: the budget (${ctx.meter.remaining} examples) is below |U| = ${forget.count}; the saliency mask uses a random subsample of ${size} forget examples`);
          salient = selectExamples(forget, ctx.rng.fork('saliency-sample').permutation(forget.count).subarray(0, size).sort());
        }
        ctx.meter.spend(salient.count);
        const masks = saliencyMasks(student, salient, options.sparsity);
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
                // Training mode, as the authors' loop after model.train(): batch-norm models use batch statistics.
                const forgetLoss = crossEntropy(student.logits(inputsTensor(relabelled, forgetRows), { training: true }), labelsTensor(relabelled, forgetRows));
                const retainLoss = crossEntropy(student.logits(inputsTensor(retain, retainRows), { training: true }), labelsTensor(retain, retainRows));
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
