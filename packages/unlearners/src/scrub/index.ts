/**
 * `core/scrub`: SCRUB of Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023,
 * arXiv 2302.09880). The teacher is a frozen copy of the poisoned model, the student another copy.
 * Each epoch, while epoch < maxSteps, a "max" pass over the forget set ascends
 * KL(teacher ‖ student); then a "min" pass over the retain set descends
 * α·KL(teacher ‖ student) + γ·CE. Epochs repeat until the budget (or `epochs`) is spent.
 * KL uses temperature-softened distributions scaled by T², as in the authors' DistillKL.
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineUnlearner, trainSgd, type ClassifierModel, type TrainingRecipe } from '@unlearn-bench/core';

/** Options of `core/scrub`. */
export interface ScrubOptions {
  /** Epochs at the start that include a max pass over the forget set (paper: msteps). @default 2 */
  readonly maxSteps: number;
  /** Epochs in all; null runs epochs until the budget is spent. @default null */
  readonly epochs: number | null;
  /** Weight α of the KL term in the min steps. @default 0.001 */
  readonly alpha: number;
  /** Weight γ of the cross-entropy term in the min steps. @default 0.99 */
  readonly gamma: number;
  /** Distillation temperature T. @default 4 */
  readonly temperature: number;
  /** Learning rate; null uses the training recipe's. @default null */
  readonly learningRate: number | null;
  /** Batch size of both passes; null uses the training recipe's. @default null */
  readonly batchSize: number | null;
  /** Momentum; null uses the training recipe's. @default null */
  readonly momentum: number | null;
}

/** Mean over the batch of KL(softmax(t/T) ‖ softmax(s/T)) · T². */
function distillKl(studentLogits: tf.Tensor2D, teacherLogits: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logStudent = tf.logSoftmax(tf.div(studentLogits, temperature));
    const logTeacher = tf.logSoftmax(tf.div(teacherLogits, temperature));
    const kl = tf.sum(tf.mul(tf.exp(logTeacher), tf.sub(logTeacher, logStudent)), 1);
    return tf.mul(tf.mean(kl), temperature * temperature) as tf.Scalar;
  });
}

/** `core/scrub`: teacher–student unlearning within the budget. */
export const scrubUnlearner = defineUnlearner<ScrubOptions>({
  id: 'scrub',
  description: 'SCRUB: a student copy moves away from the frozen poisoned teacher on the forget set (max steps) and stays close to it on the retain set (min steps).',
  references: [{ title: 'Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023', url: 'https://arxiv.org/abs/2302.09880' }],
  requires: ['parameters'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxSteps: { type: 'integer', minimum: 0, default: 2, description: 'Number of epochs, from the first, that include a max pass over the forget set (the paper’s msteps).' },
      epochs: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Epochs in all (each: optional max pass, then a min pass over the retain set); null runs until the budget is spent.' },
      alpha: { type: 'number', minimum: 0, default: 0.001, description: 'Weight α of KL(teacher ‖ student) in the min steps.' },
      gamma: { type: 'number', minimum: 0, default: 0.99, description: 'Weight γ of the cross-entropy in the min steps.' },
      temperature: { type: 'number', exclusiveMinimum: 0, default: 4, description: 'Distillation temperature T; the KL is scaled by T².' },
      learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: null, description: 'Learning rate; null uses the training recipe’s.' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Batch size of the max and min passes; null uses the training recipe’s.' },
      momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: null, description: 'Momentum; null uses the training recipe’s.' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        if (!Number.isFinite(ctx.meter.remaining)) throw new RangeError('core/scrub needs a finite budget');
        const recipe: TrainingRecipe = {
          ...training,
          epochs: 1,
          learningRate: options.learningRate ?? training.learningRate,
          batchSize: options.batchSize ?? training.batchSize,
          momentum: options.momentum ?? training.momentum,
        };
        const T = options.temperature;
        const teacher = model.clone();
        const student = model.clone();
        const maxLoss = (m: ClassifierModel, x: tf.Tensor): tf.Scalar => tf.neg(distillKl(m.logits(x), teacher.logits(x), T));
        const minLoss = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar => {
          const logits = m.logits(x);
          return tf.add(tf.mul(distillKl(logits, teacher.logits(x), T), options.alpha), tf.mul(crossEntropy(logits, y), options.gamma));
        };
        const maxRng = ctx.rng.fork('max-order');
        const minRng = ctx.rng.fork('min-order');
        try {
          for (let epoch = 0; options.epochs === null || epoch < options.epochs; epoch++) {
            if (epoch < options.maxSteps && forget.count > 0) {
              // A max pass takes at most half of what is left, so min steps always follow.
              const take = Math.min(forget.count, Math.floor(ctx.meter.remaining / 2));
              if (take > 0) trainSgd(student, forget, { ...recipe, maxExamples: take, loss: maxLoss, rng: maxRng, meter: ctx.meter, logger: ctx.logger, label: `scrub max ${epoch + 1}` });
            }
            const take = Math.min(retain.count, ctx.meter.remaining);
            if (take === 0) break;
            trainSgd(student, retain, { ...recipe, maxExamples: take, loss: minLoss, rng: minRng, meter: ctx.meter, logger: ctx.logger, label: `scrub min ${epoch + 1}` });
          }
        } catch (error) {
          student.dispose();
          throw error;
        } finally {
          teacher.dispose();
        }
        return student;
      },
    };
  },
});
