/**
 * Every built-in model and dataset passes core's conformance suites (the same ones plugin authors
 * run), with small shapes and sizes. The transformers encoder's featurizer runs on a tiny ONNX
 * encoder written at test time (no download); text-file reads small files written here.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '@unlearn-bench/core';
import { describeDatasetConformance, describeModelConformance } from '@unlearn-bench/core/testing';
import { beforeAll } from 'vitest';
import { cnnSmallModel } from './cnn-small/index.ts';
import { createEngine } from './engine/index.ts';
import { mlpModel } from './mlp/index.ts';
import { mnistDataset } from './mnist/index.ts';
import { spamAssassinDataset } from './spam-assassin/index.ts';
import { syntheticImagesDataset } from './synthetic-images/index.ts';
import { textBowModel } from './text-bow/index.ts';
import { textFileDataset } from './text-file/index.ts';
import { transformersEncoderModel } from './transformers-encoder/index.ts';
import { writeTinyEncoder } from './transformers-encoder/tiny-encoder.ts';

beforeAll(async () => {
  await createEngine({ backend: 'wasm' });
});

const dir = mkdtempSync(join(tmpdir(), 'ub-conformance-'));
const WORDS = ['the', 'plot', 'was', 'great', 'an', 'awful', 'boring', 'movie', 'good', 'acting', 'and', 'a'];

// Models.
describeModelConformance(mlpModel, { options: { hidden: [8] }, shape: { inputShape: [4, 4, 1], numClasses: 3 } });
describeModelConformance(mlpModel, { options: { hidden: [] } });
describeModelConformance(cnnSmallModel, { options: { width: 2, dense: 8 }, shape: { inputShape: [8, 8, 1], numClasses: 4 } });
describeModelConformance(textBowModel, { options: { dimension: 32, hidden: [8], ngrams: 2 }, shape: { inputShape: [32], numClasses: 2 } });
describeModelConformance(transformersEncoderModel, {
  title: 'transformers-encoder on a tiny local ONNX encoder',
  options: { model: writeTinyEncoder(join(dir, 'encoder'), { words: WORDS, hidden: 8, rng: createRng(7) }), device: 'cpu', cache: false, hidden: [4] },
  shape: { inputShape: [8], numClasses: 2 },
});

// Datasets.
const labelled = [
  { text: 'a great movie', label: 'pos' },
  { text: 'an awful plot', label: 'neg' },
  { text: 'good acting', label: 'pos' },
  { text: 'boring, and long', label: 'neg' },
  { text: 'the plot was great', label: 'pos' },
  { text: 'awful acting', label: 'neg' },
  { text: 'a good plot', label: 'pos' },
  { text: 'the movie was boring', label: 'neg' },
  { text: 'great, great acting', label: 'pos' },
  { text: 'an awful, awful movie', label: 'neg' },
];
writeFileSync(join(dir, 'reviews.jsonl'), labelled.map((r) => JSON.stringify(r)).join('\n'));
writeFileSync(join(dir, 'reviews.csv'), ['text,label', ...labelled.map((r, i) => `"${r.text}",${i % 2}`)].join('\r\n'));

describeDatasetConformance(mnistDataset, { options: { trainSize: 100, testSize: 20 } });
describeDatasetConformance(syntheticImagesDataset, { options: { shape: [4, 4, 1], numClasses: 3, trainSize: 30, testSize: 9 } });
describeDatasetConformance(spamAssassinDataset, { options: { trainSize: 100, testSize: 20, maxChars: 200 } });
describeDatasetConformance(textFileDataset, { title: 'text-file (JSONL, string labels, split by testFraction)', options: { train: join(dir, 'reviews.jsonl'), testFraction: 0.3 } });
describeDatasetConformance(textFileDataset, { title: 'text-file (CSV, integer labels, test file)', options: { train: join(dir, 'reviews.csv'), test: join(dir, 'reviews.csv') } });
