/**
 * `cifar10`: CIFAR-10 (Krizhevsky 2009) from the "binary version" in a local folder — 50,000
 * training and 10,000 test colour images of 32×32 in 10 classes, as NHWC float32 in [0, 1]
 * (`normalize` standardises each channel). `trainSize`/`testSize` take seeded subsets of the official
 * parts; `validationSize` more examples of the training part, disjoint from the training subset. No
 * CIFAR copy is on npm, so the user downloads the files; see cifar-binary.ts for the format.
 */
import { defineDataset } from '@unlearn-bench/core';
import { CIFAR_URL, cifarOptionsSchema, loadCifar, type CifarLayout, type CifarOptions } from './cifar-binary.ts';

/** Options of `cifar10`. */
export type Cifar10Options = CifarOptions;

const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];

const LAYOUT: CifarLayout = {
  id: 'cifar10',
  title: 'CIFAR-10',
  archive: 'cifar-10-binary.tar.gz',
  folder: 'cifar-10-batches-bin',
  trainFiles: TRAIN_FILES,
  testFiles: ['test_batch.bin'],
  labelClasses: [10],
  labelIndex: 0,
  namesFile: 'batches.meta.txt',
  pythonFiles: ['data_batch_1', 'batches.meta'],
  officialRecords: Object.fromEntries([...TRAIN_FILES, 'test_batch.bin'].map((f) => [f, 10_000])),
};

/** `cifar10`: the CIFAR-10 binary version from a local folder, with seeded subsets. */
export const cifar10Dataset = defineDataset<Cifar10Options>({
  id: 'cifar10',
  description: 'CIFAR-10 from the binary version in a local folder (path): 32×32×3 in [0, 1], 10 classes, seeded subsets of the official train/test parts.',
  references: [{ title: 'Learning Multiple Layers of Features from Tiny Images (Krizhevsky, 2009)', url: CIFAR_URL }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: cifarOptionsSchema(LAYOUT, 50_000, 10_000),
  },
  create(options, ctx) {
    return { load: () => loadCifar(LAYOUT, options, ctx) };
  },
});
