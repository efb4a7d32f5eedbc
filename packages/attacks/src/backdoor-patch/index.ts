/**
 * BadNets backdoor (Gu, Dolan-Gavitt, Garg 2017, arXiv 1708.06733): stamp a small trigger patch on
 * k training images whose class is not the target and relabel them as the target class. The
 * stamped images replace their clean originals (which are in neither S nor P); the trigger is
 * recorded so `core/attack-success` can stamp test images.
 */
import {
  Artifacts,
  BACKDOOR_TRIGGER,
  createExamples,
  defineAttack,
  selectExamples,
  splitIndices,
  stampTrigger,
  type BackdoorTriggerRecord,
  type Rng,
} from '@unlearn-bench/core';

/** Options of `core/backdoor-patch`. */
export interface BackdoorPatchOptions {
  /** Number of poisons k; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisons as a fraction of the training set, used when `count` is null. @default 0.01 */
  readonly fraction: number;
  /** Class triggered inputs are relabelled to. @default 0 */
  readonly target: number;
  /** Side of the square patch in pixels. @default 4 */
  readonly size: number;
  /** Where the patch goes (one pixel from the border). @default "bottom-right" */
  readonly position: 'bottom-right' | 'bottom-left' | 'top-right' | 'top-left';
  /** `solid` (all `value`), `checkerboard` (value / 0), or `random` (uniform in [0, value], drawn once per cell). @default "checkerboard" */
  readonly pattern: 'solid' | 'checkerboard' | 'random';
  /** Brightest patch value. @default 1 */
  readonly value: number;
}

/** The trigger record for an image shape (`[height, width]` or `[height, width, channels]`). */
function makeTrigger(options: BackdoorPatchOptions, inputShape: readonly number[], rng: Rng): BackdoorTriggerRecord {
  if (inputShape.length < 2 || inputShape.length > 3) throw new RangeError(`core/backdoor-patch needs image inputs [height, width(, channels)], got [${inputShape.join(', ')}]`);
  const [height, width, channels = 1] = inputShape;
  const { size } = options;
  if (size + 2 > Math.min(height, width)) throw new RangeError(`a ${size}-pixel patch does not fit a ${height}×${width} image with a 1-pixel margin; choose size ≤ ${Math.min(height, width) - 2}`);
  const row = options.position.startsWith('top') ? 1 : height - size - 1;
  const col = options.position.endsWith('left') ? 1 : width - size - 1;
  const pattern = new Float32Array(size * size * channels);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      for (let k = 0; k < channels; k++) {
        const on = options.pattern === 'solid' || (options.pattern === 'checkerboard' && (r + c) % 2 === 0);
        pattern[(r * size + c) * channels + k] = options.pattern === 'random' ? rng.next() * options.value : on ? options.value : 0;
      }
    }
  }
  return { target: options.target, size, row, col, pattern, inputShape: [...inputShape] };
}

/** `core/backdoor-patch`: BadNets trigger patch with relabelling to the target class. */
export const backdoorPatchAttack = defineAttack<BackdoorPatchOptions>({
  id: 'backdoor-patch',
  description: 'BadNets backdoor: a trigger patch stamped on k non-target training images, which are relabelled as the target class.',
  references: [{ title: 'Gu, Dolan-Gavitt, Garg, BadNets: Identifying Vulnerabilities in the Machine Learning Model Supply Chain, 2017', url: 'https://arxiv.org/abs/1708.06733' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of poisons k; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.01, description: 'Poisons as a fraction of the training set (used when count is null).' },
      target: { type: 'integer', minimum: 0, default: 0, description: 'Class triggered inputs are relabelled to.' },
      size: { type: 'integer', minimum: 1, maximum: 64, default: 4, description: 'Side of the square patch in pixels.' },
      position: { enum: ['bottom-right', 'bottom-left', 'top-right', 'top-left'], default: 'bottom-right', description: 'Corner of the patch, one pixel from the border.' },
      pattern: { enum: ['solid', 'checkerboard', 'random'], default: 'checkerboard', description: 'solid: all value; checkerboard: value and 0; random: uniform in [0, value], drawn once per cell.' },
      value: { type: 'number', minimum: 0, default: 1, description: 'Brightest patch value.' },
    },
  },
  create(options, ctx) {
    return {
      poison({ data }) {
        const train = data.train;
        if (options.target >= data.numClasses) throw new RangeError(`target class ${options.target} does not exist; choose 0..${data.numClasses - 1}`);
        const trigger = makeTrigger(options, train.inputShape, ctx.rng.fork('pattern'));
        const eligible = Int32Array.from(Array.from(train.labels.keys()).filter((i) => train.labels[i] !== options.target));
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k > eligible.length) throw new RangeError(`cannot make ${k} backdoor poisons from ${eligible.length} non-target training points; choose count in 1..${eligible.length}`);
        const chosen = Int32Array.from(splitIndices(eligible.length, k, ctx.rng.fork('points')).chosen, (i) => eligible[i]);
        const taken = new Set(chosen);
        const rest = Int32Array.from(Array.from(train.labels.keys()).filter((i) => !taken.has(i)));
        const base = selectExamples(train, chosen);
        ctx.logger.debug(`${k} backdoor poisons → class ${options.target}, ${options.size}px ${options.pattern} patch at (${trigger.row}, ${trigger.col})`);
        return {
          clean: selectExamples(train, rest),
          poisons: createExamples(stampTrigger(base.inputs, trigger), new Int32Array(k).fill(options.target), train.inputShape),
          artifacts: new Artifacts().set(BACKDOOR_TRIGGER, trigger),
        };
      },
    };
  },
});
