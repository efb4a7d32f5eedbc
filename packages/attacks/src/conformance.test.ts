/**
 * Every built-in attack passes core's attack conformance suite (the same one plugin authors run),
 * with small data and tiny iteration counts so the whole file stays fast.
 */
import { createExamples, createRng, type DatasetSplit, type Examples } from '@unlearn-bench/core';
import { createTestContext, describeAttackConformance, type ConformanceData } from '@unlearn-bench/core/testing';
import { createEngine, createHashingFeaturizer, syntheticImagesDataset } from '@unlearn-bench/models';
import { beforeAll } from 'vitest';
import {
  backdoorPatchAttack,
  cleanSubsetAttack,
  gaussianAttack,
  gradientCancelingAttack,
  labelFlipAttack,
  triggerPhraseAttack,
  witchesBrewAttack,
} from './index.ts';

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
});

/** 8×8×1 synthetic images in 4 classes, pixels around [0, 1] (image attacks clip to that range). */
function images(): ConformanceData {
  const options = { shape: [8, 8, 1], numClasses: 4, trainSize: 160, testSize: 40, noise: 0.1, seed: 0 };
  return { split: syntheticImagesDataset.create(options, createTestContext(0)).load() as DatasetSplit };
}

const WORDS = [
  ['free', 'offer', 'win', 'cash', 'prize', 'click', 'deal', 'bonus'],
  ['meeting', 'report', 'lunch', 'project', 'team', 'agenda', 'notes', 'review'],
];

/** 120 + 40 two-class texts with hashed bag-of-words features (what core/text-bow computes). */
function texts(): ConformanceData {
  const featurizer = createHashingFeaturizer({ dimension: 32, ngrams: 1, lowercase: true, weighting: 'log1p', normalize: true, maxTokens: 0 });
  const featurize = async (list: readonly string[]) => featurizer.featurize(list) as Float32Array;
  const rng = createRng(3);
  const make = (count: number): Examples => {
    const labels = Int32Array.from({ length: count }, (_, i) => i % 2);
    const list = Array.from(labels, (y) => Array.from({ length: 8 }, () => WORDS[y][rng.int(WORDS[y].length)]).join(' '));
    return createExamples(featurizer.featurize(list) as Float32Array, labels, [32], list);
  };
  return { split: { name: 'conformance-texts', train: make(120), test: make(40), numClasses: 2 }, featurize };
}

describeAttackConformance(gaussianAttack, { options: { count: 10, sigma: 0.5 } });
describeAttackConformance(labelFlipAttack, { options: { count: 10 } });
describeAttackConformance(labelFlipAttack, { options: { mode: 'class', count: 10, sourceClass: 2, targetClass: 3 } });
describeAttackConformance(cleanSubsetAttack, { options: { count: 10 } });
describeAttackConformance(backdoorPatchAttack, { options: { count: 10, size: 2 }, data: images });
describeAttackConformance(triggerPhraseAttack, { options: { count: 6, phrase: 'zebra crossing' }, data: texts });
describeAttackConformance(witchesBrewAttack, { options: { count: 4, targets: 2, iterations: 2, restarts: 1 }, data: images });
describeAttackConformance(gradientCancelingAttack, { options: { count: 6, iterations: 2 }, data: images });
