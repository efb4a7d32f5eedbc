/**
 * Label flipping (a common indiscriminate baseline): k training points keep their inputs and get a
 * wrong label — uniformly random among the other classes (`random`), or every point of `sourceClass`
 * relabelled `targetClass` (`class`). The flipped points are the poisons; their true labels are
 * recorded.
 */
import { Artifacts, LABEL_FLIP, createExamples, defineAttack, selectExamples, splitIndices } from '@unlearn-bench/core';

/** Options of `core/label-flip`. */
export interface LabelFlipOptions {
  /** `random`: k random points get a random wrong label; `class`: k points of sourceClass become targetClass. @default "random" */
  readonly mode: 'random' | 'class';
  /** Number of flipped points k; overrides `fraction` when set (in `class` mode at most the class size). @default null */
  readonly count: number | null;
  /** Flipped points as a fraction of the training set, used when `count` is null. @default 0.05 */
  readonly fraction: number;
  /** Class whose points are flipped (`class` mode). @default 0 */
  readonly sourceClass: number;
  /** Label they get (`class` mode). @default 1 */
  readonly targetClass: number;
}

/** `core/label-flip`: flips the labels of k training points. */
export const labelFlipAttack = defineAttack<LabelFlipOptions>({
  id: 'label-flip',
  description: 'Label flipping: k training points get a wrong label (random other class, or sourceClass → targetClass).',
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      mode: { enum: ['random', 'class'], default: 'random', description: 'random: random wrong labels on random points; class: points of sourceClass relabelled targetClass.' },
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of flipped points k; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.9, default: 0.05, description: 'Flipped points as a fraction of the training set (used when count is null).' },
      sourceClass: { type: 'integer', minimum: 0, default: 0, description: 'Class whose points are flipped (class mode).' },
      targetClass: { type: 'integer', minimum: 0, default: 1, description: 'Label the flipped points get (class mode).' },
    },
  },
  create(options, ctx) {
    return {
      poison({ data }) {
        const train = data.train;
        const k = options.count ?? Math.round(options.fraction * train.count);
        let chosen: Int32Array;
        let rest: Int32Array;
        if (options.mode === 'random') {
          if (k < 1 || k >= train.count) throw new RangeError(`cannot flip ${k} of ${train.count} training points; choose count in 1..${train.count - 1}`);
          ({ chosen, rest } = splitIndices(train.count, k, ctx.rng.fork('points')));
        } else {
          const { sourceClass, targetClass } = options;
          if (sourceClass === targetClass || sourceClass >= data.numClasses || targetClass >= data.numClasses) {
            throw new RangeError(`sourceClass ${sourceClass} and targetClass ${targetClass} must be different classes in 0..${data.numClasses - 1}`);
          }
          const members = Int32Array.from(Array.from(train.labels.keys()).filter((i) => train.labels[i] === sourceClass));
          if (k < 1 || k > members.length) throw new RangeError(`cannot flip ${k} points of class ${sourceClass}, which has ${members.length}; choose count in 1..${members.length}`);
          const pick = splitIndices(members.length, k, ctx.rng.fork('points')).chosen;
          chosen = Int32Array.from(pick, (i) => members[i]).sort();
          const taken = new Set(chosen);
          rest = Int32Array.from(Array.from(train.labels.keys()).filter((i) => !taken.has(i)));
        }
        const base = selectExamples(train, chosen);
        const labelRng = ctx.rng.fork('labels');
        const flipped = Int32Array.from(base.labels, (y) =>
          options.mode === 'class' ? options.targetClass : (y + 1 + labelRng.int(data.numClasses - 1)) % data.numClasses,
        );
        ctx.logger.debug(`${k} labels flipped (${options.mode})`);
        return {
          clean: selectExamples(train, rest),
          poisons: createExamples(base.inputs, flipped, train.inputShape, base.texts),
          artifacts: new Artifacts().set(LABEL_FLIP, { originalLabels: base.labels, mode: options.mode }),
        };
      },
    };
  },
});
