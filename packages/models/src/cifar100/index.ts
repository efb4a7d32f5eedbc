/**
 * `cifar100`: CIFAR-100 (Krizhevsky 2009) from the "binary version" in a local folder — 50,000
 * training and 10,000 test colour images of 32×32 with a fine label (100 classes) and a coarse one
 * (20 superclasses); `labels` picks which one is the class. Same tensors and options as `cifar10`
 * (the reader is shared: ../cifar10/cifar-binary.ts).
 */
import { defineDataset } from '@unlearn-bench/core';
import { CIFAR_URL, cifarOptionsSchema, loadCifar, type CifarLayout, type CifarOptions } from '../cifar10/cifar-binary.ts';

/** Options of `cifar100`. */
export interface Cifar100Options extends CifarOptions {
  /** Class of an example: its fine label (100 classes) or its coarse one (20 superclasses). @default "fine" */
  readonly labels: 'fine' | 'coarse';
}

const LAYOUT: Omit<CifarLayout, 'labelIndex' | 'namesFile'> = {
  id: 'cifar100',
  title: 'CIFAR-100',
  archive: 'cifar-100-binary.tar.gz',
  folder: 'cifar-100-binary',
  trainFiles: ['train.bin'],
  testFiles: ['test.bin'],
  // Each record starts with the coarse label byte, then the fine one.
  labelClasses: [20, 100],
  pythonFiles: ['train', 'test', 'meta'],
  officialRecords: { 'train.bin': 50_000, 'test.bin': 10_000 },
};

/** `cifar100`: the CIFAR-100 binary version from a local folder, fine or coarse labels. */
export const cifar100Dataset = defineDataset<Cifar100Options>({
  id: 'cifar100',
  description: 'CIFAR-100 from the binary version in a local folder (path): 32×32×3 in [0, 1], 100 fine or 20 coarse classes, seeded subsets of the official train/test parts.',
  references: [{ title: 'Learning Multiple Layers of Features from Tiny Images (Krizhevsky, 2009)', url: CIFAR_URL }],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...cifarOptionsSchema(LAYOUT, 50_000, 10_000),
      labels: { enum: ['fine', 'coarse'], default: 'fine', description: 'Class of an example: its fine label (100 classes) or its coarse label (20 superclasses).' },
    },
  },
  create(options, ctx) {
    const fine = options.labels === 'fine';
    const layout: CifarLayout = { ...LAYOUT, labelIndex: fine ? 1 : 0, namesFile: fine ? 'fine_label_names.txt' : 'coarse_label_names.txt' };
    return { load: () => loadCifar(layout, options, ctx) };
  },
});
