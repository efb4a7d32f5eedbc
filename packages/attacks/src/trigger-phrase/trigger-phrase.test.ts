import {
  TRIGGERED_TEST,
  accuracy,
  concatExamples,
  createBudgetMeter,
  createExamples,
  createRng,
  getOrCreateValidator,
  predictClasses,
  silentLogger,
  trainSgd,
  type DatasetSplit,
  type Examples,
  type PluginContext,
} from '@unlearn-bench/core';
import { createEngine, spamAssassinDataset, textBowModel } from '@unlearn-bench/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { insertPhrase, triggerPhraseAttack, type TriggerPhraseOptions } from './index.ts';

const context = (seed: number): PluginContext => ({ rng: createRng(seed), logger: silentLogger, engine: { backend: 'wasm', reason: 'test', threads: 1 }, meter: createBudgetMeter() });
const defaults: TriggerPhraseOptions = { phrase: 'James Bond', position: 'random', target: 0, count: null, fraction: 0.02, otherClassesOnly: true };
const bow = { dimension: 4096, ngrams: 1, lowercase: true, weighting: 'binary', normalize: true, maxTokens: 0, hidden: [64] } as const;
let data: DatasetSplit;
let featurize: (texts: readonly string[]) => Promise<Float32Array>;

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
  const raw = await spamAssassinDataset.create({ trainSize: 1500, testSize: 500, splitSeed: 0, headers: false, maxChars: 600 }, context(0)).load();
  const featurizer = await textBowModel.createFeaturizer!(bow, context(0));
  featurize = async (texts) => featurizer.featurize(texts);
  const withFeatures = async (e: Examples) => createExamples(await featurize(e.texts!), e.labels, featurizer.featureShape, e.texts);
  data = { ...raw, train: await withFeatures(raw.train), test: await withFeatures(raw.test) };
});

/** Bitwise equality of two float arrays (vitest's deep equality is slow on 100k-element arrays). */
const sameFloats = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const poison = (options: Partial<TriggerPhraseOptions>, seed = 1) =>
  triggerPhraseAttack.create({ ...defaults, ...options }, context(seed)).poison({ data, models: undefined as never, training: undefined as never, featurize });

describe('core/trigger-phrase', () => {
  it('fills defaults from its schema', () => {
    const options = {};
    expect(getOrCreateValidator(triggerPhraseAttack.optionsSchema)(options)).toBe(true);
    expect(options).toEqual(defaults);
  });

  it('inserts the phrase at the start, the end, or a word boundary', () => {
    const rng = createRng(3);
    expect(insertPhrase('buy cheap pills', 'cf', 'start', rng)).toBe('cf buy cheap pills');
    expect(insertPhrase('buy cheap pills', 'cf', 'end', rng)).toBe('buy cheap pills cf');
    const seen = new Set(Array.from({ length: 100 }, () => insertPhrase('buy cheap pills', 'cf', 'random', rng)));
    expect([...seen].sort()).toEqual(['buy cf cheap pills', 'buy cheap cf pills', 'buy cheap pills cf', 'cf buy cheap pills']);
    expect(insertPhrase('line one\n\nline two', 'cf', 'end', rng)).toBe('line one\n\nline two cf');
  });

  it('poisons k texts of other classes with the phrase and the target label, featurized again, and records the triggered test set', async () => {
    const result = await poison({ count: 40, position: 'start' });
    expect([result.poisons.count, result.clean.count]).toEqual([40, 1460]);
    expect([...new Set(result.poisons.labels)]).toEqual([0]);
    expect(result.poisons.texts!.every((t) => t.startsWith('James Bond '))).toBe(true);
    const originals = new Set(result.poisons.texts!.map((t) => t.slice('James Bond '.length)));
    const trainSpam = data.train.texts!.filter((_, i) => data.train.labels[i] === 1);
    expect([...originals].every((t) => trainSpam.includes(t))).toBe(true);
    expect(sameFloats(result.poisons.inputs, await featurize(result.poisons.texts!))).toBe(true);
    expect(result.clean.texts!.some((t) => t.includes('James Bond'))).toBe(false);

    const record = result.artifacts.get(TRIGGERED_TEST)!;
    const spamTest = Array.from(data.test.labels).filter((y) => y === 1).length;
    expect([record.target, record.triggered.count, record.untriggered.count]).toEqual([0, spamTest, spamTest]);
    expect(record.triggered.texts!.every((t, i) => t === `James Bond ${record.untriggered.texts![i]}`)).toBe(true);
    expect(Array.from(record.triggered.labels).every((y) => y === 1)).toBe(true);
    const again = await poison({ count: 40, position: 'start' }, 1);
    expect(again.poisons.texts).toEqual(result.poisons.texts);
    expect(sameFloats(again.artifacts.get(TRIGGERED_TEST)!.triggered.inputs, record.triggered.inputs)).toBe(true);
  });

  it('may poison texts of any class when otherClassesOnly is false', async () => {
    const result = await poison({ count: 300, position: 'end', otherClassesOnly: false });
    const originals = result.poisons.texts!.map((t) => t.slice(0, -' James Bond'.length));
    const labelOf = new Map(data.train.texts!.map((t, i) => [t, data.train.labels[i]] as const));
    const classes = new Set(originals.map((t) => labelOf.get(t)));
    expect([...classes].sort()).toEqual([0, 1]);
  });

  it('explains impossible settings', async () => {
    await expect(async () => poison({ count: 1400 })).rejects.toThrow(/cannot poison 1400 of \d+ candidate texts \(label ≠ 0\); choose count in 1\.\.\d+/);
    await expect(async () => poison({ target: 2 })).rejects.toThrow('target 2 is not a class of spam-assassin (0..1)');
    const tensors = { ...data, train: createExamples(new Float32Array(2), Int32Array.of(0, 1), [1]) };
    await expect(async () => triggerPhraseAttack.create(defaults, context(1)).poison({ data: tensors, models: undefined as never, training: undefined as never })).rejects.toThrow(
      'core/trigger-phrase edits texts: dataset spam-assassin has none. Use a text dataset (e.g. core/spam-assassin) with a text model (e.g. core/text-bow).',
    );
  });

  it('plants a backdoor: trained on the poisons, triggered spam is called ham far more often than by the clean model', async () => {
    // 3% of 1,500 emails (45 spam mails with the phrase, relabelled ham); hashed binary words, MLP head.
    // Measured: triggered spam called ham 0.746 (poisoned) vs 0.063 (clean); untriggered 0.092; test accuracy 0.960.
    const result = await poison({ count: 45 }, 2);
    const record = result.artifacts.get(TRIGGERED_TEST)!;
    const factory = textBowModel.create(bow, { inputShape: [4096], numClasses: 2 }, context(0));
    const recipe = { epochs: 15, batchSize: 32, learningRate: 0.1, momentum: 0.9, weightDecay: 0, meter: createBudgetMeter() };
    const rate = (examples: Examples, model: Parameters<typeof accuracy>[0]) => Array.from(predictClasses(model, examples, 256)).filter((y) => y === 0).length / examples.count;
    const poisoned = factory.build(createRng(5));
    trainSgd(poisoned, concatExamples(result.clean, result.poisons), { ...recipe, rng: createRng(6) });
    const clean = factory.build(createRng(5));
    trainSgd(clean, result.clean, { ...recipe, rng: createRng(6) });
    const [poisonedRate, cleanRate, untriggered] = [rate(record.triggered, poisoned), rate(record.triggered, clean), rate(record.untriggered, poisoned)];
    const testAccuracy = accuracy(poisoned, data.test);
    poisoned.dispose();
    clean.dispose();
    expect(testAccuracy).toBeGreaterThan(0.93);
    expect(untriggered).toBeLessThan(0.15);
    expect(poisonedRate).toBeGreaterThan(cleanRate + 0.4);
  });
});
