/**
 * Every built-in model and dataset passes core's conformance suites (the same ones plugin authors
 * run), with small shapes and sizes. The transformers encoder's featurizer runs on a tiny ONNX
 * encoder written at test time (no download), core/gpt2 on a new model and on a tiny checkpoint
 * written here; text-file, cifar10, cifar100 and image-folder read small files written here in
 * their formats.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, tokenRowSize } from '@unlearn-bench/core';
import { describeDatasetConformance, describeModelConformance } from '@unlearn-bench/core/testing';
import sharp from 'sharp';
import { beforeAll } from 'vitest';
import { cifar10Dataset } from './cifar10/index.ts';
import { cifar100Dataset } from './cifar100/index.ts';
import { cnnSmallModel } from './cnn-small/index.ts';
import { gpt2Model } from './gpt2/index.ts';
import { writeTinyGpt2 } from './gpt2/tiny-gpt2.ts';
import { createEngine } from './engine/index.ts';
import { imageFolderDataset } from './image-folder/index.ts';
import { mlpModel } from './mlp/index.ts';
import { mnistDataset } from './mnist/index.ts';
import { resnetModel } from './resnet/index.ts';
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
describeModelConformance(resnetModel, { title: 'resnet-18 (width 2)', options: { variant: 'resnet-18', width: 2 }, shape: { inputShape: [8, 8, 3], numClasses: 3 } });
describeModelConformance(resnetModel, { title: 'resnet-9 (width 2)', options: { variant: 'resnet-9', width: 2 }, shape: { inputShape: [8, 8, 3], numClasses: 3 } });
describeModelConformance(textBowModel, { options: { dimension: 32, hidden: [8], ngrams: 2 }, shape: { inputShape: [32], numClasses: 2 } });
describeModelConformance(transformersEncoderModel, {
  title: 'transformers-encoder on a tiny local ONNX encoder',
  options: { model: writeTinyEncoder(join(dir, 'encoder'), { words: WORDS, hidden: 8, rng: createRng(7) }), device: 'cpu', cache: false, hidden: [4] },
  shape: { inputShape: [8], numClasses: 2 },
});
describeModelConformance(gpt2Model, {
  title: 'gpt2, new (2 blocks, dim 16, byte-level tokenizer)',
  options: { config: { layers: 2, heads: 2, dim: 16, context: 16, vocabSize: null }, tokenizer: 'byte-level', maxLength: 8 },
  shape: { inputShape: [tokenRowSize(8)], numClasses: 3 },
});
describeModelConformance(gpt2Model, {
  title: 'gpt2 from a tiny local checkpoint',
  options: { model: writeTinyGpt2(join(dir, 'gpt2'), { layers: 1, heads: 2, dim: 8, context: 8, merges: [['Ġ', 't']], std: 0.2, rng: createRng(5) }).folder, maxLength: 6 },
  shape: { inputShape: [tokenRowSize(6)], numClasses: 2 },
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

// Image datasets: CIFAR binary records (label bytes + 3,072 pixel bytes) and a folder of PNGs.
const bytes = createRng(3);
const cifarFile = (path: string, records: number, labels: readonly number[]) => {
  const out = Buffer.alloc(records * (labels.length + 3072));
  for (let r = 0; r < records; r++) {
    const offset = r * (labels.length + 3072);
    labels.forEach((classes, b) => (out[offset + b] = bytes.int(classes)));
    for (let k = labels.length; k < labels.length + 3072; k++) out[offset + k] = bytes.int(256);
  }
  writeFileSync(path, out);
};
const cifar10Dir = join(dir, 'cifar-10-batches-bin');
mkdirSync(cifar10Dir);
for (const file of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) cifarFile(join(cifar10Dir, `${file}.bin`), 4, [10]);
writeFileSync(join(cifar10Dir, 'batches.meta.txt'), Array.from({ length: 10 }, (_, i) => `class${i}`).join('\n'));
const cifar100Dir = join(dir, 'cifar-100-binary');
mkdirSync(cifar100Dir);
cifarFile(join(cifar100Dir, 'train.bin'), 12, [20, 100]);
cifarFile(join(cifar100Dir, 'test.bin'), 4, [20, 100]);
const imagesDir = join(dir, 'images');
for (const [label, name] of ['circle', 'square'].entries()) {
  mkdirSync(join(imagesDir, name), { recursive: true });
  for (let k = 0; k < 4; k++) {
    const raw = Buffer.from(Array.from({ length: 6 * 5 * 3 }, () => bytes.int(128) + 100 * label));
    await sharp(raw, { raw: { width: 6, height: 5, channels: 3 } }).png().toFile(join(imagesDir, name, `${k}.png`));
  }
}

describeDatasetConformance(cifar10Dataset, { title: 'cifar10 (generated binary files)', options: { path: cifar10Dir, trainSize: 12, testSize: 3, validationSize: 4 } });
describeDatasetConformance(cifar10Dataset, { title: 'cifar10 (normalised, parent folder)', options: { path: dir, normalize: true } });
describeDatasetConformance(cifar100Dataset, { title: 'cifar100 (generated binary files, coarse labels)', options: { path: cifar100Dir, labels: 'coarse', trainSize: 8 } });
describeDatasetConformance(imageFolderDataset, { title: 'image-folder (generated PNGs, split by testFraction)', options: { path: imagesDir, size: [4, 4], testFraction: 0.25, cache: 'memory' } });
