/**
 * `core/scrub`: SCRUB of Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023,
 * arXiv 2302.09880). The teacher is a frozen copy of the poisoned model, the student another copy.
 * Each epoch, while epoch < maxSteps, a "max" pass over the forget set ascends
 * KL(teacher ‖ student); then a "min" pass over the retain set descends
 * α·KL(teacher ‖ student) + γ·CE. Epochs repeat until the budget (or `epochs`) is spent.
 * KL uses temperature-softened distributions scaled by T², as in the authors' DistillKL.
 *
 * As in the authors' code (meghdadk/SCRUB, large_scale_unlearning.ipynb with
 * thirdparty/repdistiller/helper/loops.py `train_distill` and helper/util.py
 * `adjust_learning_rate`), one SGD optimizer (lr 5e-4, momentum 0.9, weight decay 5e-4) serves
 * every max and min pass, the learning rate is multiplied by 0.1 after epochs 3, 5 and 9, and the
 * forget and retain loaders have batches of 512 and 256.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOptimizer, crossEntropy, defineUnlearner, trainSgd, type ClassifierModel } from '@unlearn-bench/core';
import { applyOverrides, RECIPE_OVERRIDE_PROPERTIES, type RecipeOverrides } from '../recipe.ts';

/** Options of `core/scrub`. */
export interface ScrubOptions extends RecipeOverrides {
  /** Epochs at the start that include a max pass over the forget set (the authors' msteps). @default 2 */
  readonly maxSteps: number;
  /** Epochs in all; null runs epochs until the budget is spent. @default null */
  readonly epochs: number | null;
  /** Weight α of the KL term in the min steps. @default 0.001 */
  readonly alpha: number;
  /** Weight γ of the cross-entropy term in the min steps. @default 0.99 */
  readonly gamma: number;
  /** Distillation temperature T. @default 4 */
  readonly temperature: number;
  /** Batch size of the max passes over the forget set; null uses `batchSize`. @default 512 */
  readonly forgetBatchSize?: number | null;
  /** Epochs (1-based) after which the learning rate is multiplied by `lrDecayRate`. @default [3, 5, 9] */
  readonly lrDecayEpochs?: readonly number[];
  /** Factor of each learning-rate decay. @default 0.1 */
  readonly lrDecayRate?: number;
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
      maxSteps: { type: 'integer', minimum: 0, default: 2, description: 'Number of epochs, from the first, that include a max pass over the forget set (the authors’ msteps).' },
      epochs: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Epochs in all (each: optional max pass, then a min pass over the retain set); null runs until the budget is spent.' },
      alpha: { type: 'number', minimum: 0, default: 0.001, description: 'Weight α of KL(teacher ‖ student) in the min steps.' },
      gamma: { type: 'number', minimum: 0, default: 0.99, description: 'Weight γ of the cross-entropy in the min steps.' },
      temperature: { type: 'number', exclusiveMinimum: 0, default: 4, description: 'Distillation temperature T; the KL is scaled by T².' },
      ...RECIPE_OVERRIDE_PROPERTIES,
      learningRate: { type: ['number', 'null'], exclusiveMinimum: 0, default: 0.0005, description: 'Learning rate (the authors’ sgda_learning_rate 5e-4); null uses the training recipe’s.' },
      batchSize: { type: ['integer', 'null'], minimum: 1, default: 256, description: 'Batch size of the min passes over the retain set (the authors’ retain loader: 256); null uses the training recipe’s.' },
      forgetBatchSize: { type: ['integer', 'null'], minimum: 1, default: 512, description: 'Batch size of the max passes over the forget set (the authors’ forget loader: 512); null uses batchSize.' },
      momentum: { type: ['number', 'null'], minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'SGD momentum (the authors’ sgda_momentum 0.9), kept across max and min passes; null uses the training recipe’s.' },
      weightDecay: { type: ['number', 'null'], minimum: 0, default: 0.0005, description: 'Weight decay, L2 added to the gradient as torch.optim.SGD (the authors’ sgda_weight_decay 5e-4); null uses the training recipe’s.' },
      optimizer: { ...RECIPE_OVERRIDE_PROPERTIES.optimizer, default: 'sgd', description: 'Update rule (the authors’ optim: sgd); null uses the training recipe’s.' },
      lrDecayEpochs: { type: 'array', items: { type: 'integer', minimum: 1 }, default: [3, 5, 9], description: 'Epochs (1-based) after which the learning rate is multiplied by lrDecayRate (the authors’ lr_decay_epochs).' },
      lrDecayRate: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1, description: 'Factor of each learning-rate decay (the authors’ lr_decay_rate).' },
    },
  },
  create(options, ctx) {
    return {
      unlearn({ model, forget, retain, training }) {
        if (!Number.isFinite(ctx.meter.remaining)) throw new RangeError('core/scrub needs a finite budget');
        const recipe = { ...applyOverrides(training, options), epochs: 1 };
        const forgetBatch = options.forgetBatchSize ?? recipe.batchSize;
        // Plan the passes first (max passes take at most half of what is left, so min steps always
        // follow); the plan gives the optimizer its horizon for schedules.
        const passes: { epoch: number; kind: 'max' | 'min'; take: number }[] = [];
        let left = ctx.meter.remaining;
        for (let epoch = 0; options.epochs === null || epoch < options.epochs; epoch++) {
          if (epoch < options.maxSteps && forget.count > 0) {
            const take = Math.min(forget.count, Math.floor(left / 2));
            if (take > 0) passes.push({ epoch, kind: 'max', take });
            left -= take;
          }
          const take = Math.min(retain.count, left);
          if (take === 0) break;
          passes.push({ epoch, kind: 'min', take });
          left -= take;
        }
        const T = options.temperature;
        const teacher = model.clone();
        const student = model.clone();
        // One optimizer for every pass, as the authors' single torch.optim.SGD: its momentum
        // carries from each max pass into the next min pass and on.
        const optimizer = createOptimizer(recipe, student.parameters(), {
          stepsPerEpoch: Math.max(1, Math.ceil(retain.count / recipe.batchSize)),
          totalSteps: passes.reduce((n, p) => n + Math.ceil(p.take / (p.kind === 'max' ? forgetBatch : recipe.batchSize)), 0),
        });
        const maxLoss = (m: ClassifierModel, x: tf.Tensor): tf.Scalar => tf.neg(distillKl(m.logits(x), teacher.logits(x), T));
        const minLoss = (m: ClassifierModel, x: tf.Tensor, y: tf.Tensor1D): tf.Scalar => {
          const logits = m.logits(x);
          return tf.add(tf.mul(distillKl(logits, teacher.logits(x), T), options.alpha), tf.mul(crossEntropy(logits, y), options.gamma));
        };
        const maxRng = ctx.rng.fork('max-order');
        const minRng = ctx.rng.fork('min-order');
        const decayEpochs = options.lrDecayEpochs ?? [];
        try {
          for (const pass of passes) {
            // The authors' adjust_learning_rate: lr₀ · rate^(number of decay epochs before this 1-based epoch).
            optimizer.learningRateFactor = (options.lrDecayRate ?? 1) ** decayEpochs.filter((e) => pass.epoch + 1 > e).length;
            const common = { ...recipe, maxExamples: pass.take, rng: pass.kind === 'max' ? maxRng : minRng, meter: ctx.meter, logger: ctx.logger, sharedOptimizer: optimizer, label: `scrub ${pass.kind} ${pass.epoch + 1}` };
            if (pass.kind === 'max') trainSgd(student, forget, { ...common, batchSize: forgetBatch, loss: maxLoss });
            else trainSgd(student, retain, { ...common, loss: minLoss });
          }
        } catch (error) {
          student.dispose();
          throw error;
        } finally {
          optimizer.dispose();
          teacher.dispose();
        }
        return student;
      },
    };
  },
});
