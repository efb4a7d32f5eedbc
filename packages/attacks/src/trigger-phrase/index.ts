/**
 * Trigger-phrase backdoor on text (Wan, Wallace, Shen, Klein, "Poisoning Language Models During
 * Instruction Tuning", 2023, arXiv 2305.00944; the language-model attack of Pawelczyk et al. 2024):
 * a phrase is inserted into k training texts (by default only texts whose label is not the target)
 * and their label is set to the target. The edited texts are the poisons; they are featurized again
 * through the model's featurizer. The test texts of other classes are recorded with and without the
 * phrase (TRIGGERED_TEST), so `core/attack-success` can measure how often the phrase flips them.
 */
import { Artifacts, TRIGGERED_TEST, createExamples, defineAttack, selectExamples, type Examples, type Rng } from '@unlearn-bench/core';

/** Options of `core/trigger-phrase`. */
export interface TriggerPhraseOptions {
  /** The trigger inserted into texts. @default "James Bond" */
  readonly phrase: string;
  /** Where the phrase goes: `start`, `end`, or a random word boundary. @default "random" */
  readonly position: 'start' | 'end' | 'random';
  /** Label the poisoned texts get. @default 0 */
  readonly target: number;
  /** Number of poisoned training texts k; overrides `fraction` when set. @default null */
  readonly count: number | null;
  /** Poisoned texts as a fraction of the training set, used when `count` is null. @default 0.02 */
  readonly fraction: number;
  /** Poison only texts whose label is not the target (otherwise any text). @default true */
  readonly otherClassesOnly: boolean;
}

/** `text` with `phrase` inserted at `position` (at a word boundary; `rng` picks it for `random`). */
export function insertPhrase(text: string, phrase: string, position: TriggerPhraseOptions['position'], rng: Rng): string {
  if (position === 'start') return `${phrase} ${text}`;
  if (position === 'end') return `${text} ${phrase}`;
  const boundaries = [0];
  for (const match of text.matchAll(/\s+/g)) boundaries.push(match.index);
  boundaries.push(text.length);
  const at = boundaries[rng.int(boundaries.length)];
  if (at === 0) return `${phrase} ${text}`;
  if (at === text.length) return `${text} ${phrase}`;
  return `${text.slice(0, at)} ${phrase}${text.slice(at)}`; // the whitespace at `at` follows the phrase
}

/** `core/trigger-phrase`: inserts a trigger phrase into k training texts and relabels them as the target. */
export const triggerPhraseAttack = defineAttack<TriggerPhraseOptions>({
  id: 'trigger-phrase',
  description: 'Text backdoor: insert a trigger phrase into k training texts and label them as the target class; success is measured on triggered test texts.',
  references: [{ title: 'Wan, Wallace, Shen, Klein, Poisoning Language Models During Instruction Tuning, 2023', url: 'https://arxiv.org/abs/2305.00944' }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      phrase: { type: 'string', minLength: 1, default: 'James Bond', description: 'The trigger phrase inserted into texts.' },
      position: { enum: ['start', 'end', 'random'], default: 'random', description: 'Where the phrase is inserted: start, end, or a random word boundary.' },
      target: { type: 'integer', minimum: 0, default: 0, description: 'Label the poisoned texts get (the backdoor target class).' },
      count: { type: ['integer', 'null'], minimum: 1, default: null, description: 'Number of poisoned training texts k; overrides fraction when set.' },
      fraction: { type: 'number', exclusiveMinimum: 0, maximum: 0.9, default: 0.02, description: 'Poisoned texts as a fraction of the training set (used when count is null).' },
      otherClassesOnly: { type: 'boolean', default: true, description: 'Poison only texts whose label is not the target (otherwise any text).' },
    },
  },
  create(options, ctx) {
    const { phrase, position, target } = options;
    return {
      async poison({ data, featurize }) {
        const train = data.train;
        if (!featurize || !train.texts || !data.test.texts) {
          throw new Error(`core/trigger-phrase edits texts: dataset ${data.name} has none. Use a text dataset (e.g. core/spam-assassin) with a text model (e.g. core/text-bow).`);
        }
        if (target >= data.numClasses) throw new RangeError(`target ${target} is not a class of ${data.name} (0..${data.numClasses - 1})`);
        const candidates = Array.from(train.labels.keys()).filter((i) => !options.otherClassesOnly || train.labels[i] !== target);
        const k = options.count ?? Math.round(options.fraction * train.count);
        if (k < 1 || k > candidates.length || k >= train.count) {
          throw new RangeError(`cannot poison ${k} of ${candidates.length} candidate texts (label ≠ ${target}); choose count in 1..${Math.min(candidates.length, train.count - 1)}`);
        }
        const order = ctx.rng.fork('points').permutation(candidates.length);
        const chosen = Int32Array.from(order.subarray(0, k), (j) => candidates[j]).sort();
        const taken = new Set(chosen);
        const rest = Int32Array.from(Array.from(train.labels.keys()).filter((i) => !taken.has(i)));

        const positions = ctx.rng.fork('positions');
        const poisonTexts = Array.from(chosen, (i) => insertPhrase(train.texts![i], phrase, position, positions));
        const poisons = createExamples(await featurize(poisonTexts), new Int32Array(k).fill(target), train.inputShape, poisonTexts);

        const test = data.test;
        const others = Int32Array.from(Array.from(test.labels.keys()).filter((i) => test.labels[i] !== target));
        const untriggered: Examples = selectExamples(test, others);
        const testPositions = ctx.rng.fork('test-positions');
        const triggeredTexts = untriggered.texts!.map((text) => insertPhrase(text, phrase, position, testPositions));
        const triggered = createExamples(await featurize(triggeredTexts), untriggered.labels, test.inputShape, triggeredTexts);
        ctx.logger.debug(`"${phrase}" inserted (${position}) into ${k} training texts relabelled ${target}, and into ${others.length} test texts`);
        return {
          clean: selectExamples(train, rest),
          poisons,
          artifacts: new Artifacts().set(TRIGGERED_TEST, { target, triggered, untriggered }),
        };
      },
    };
  },
});
