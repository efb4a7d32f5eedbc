/** The built-in models and datasets as a plugin (namespace `core`). */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { cifar10Dataset } from './cifar10/index.ts';
import { cifar100Dataset } from './cifar100/index.ts';
import { cnnSmallModel } from './cnn-small/index.ts';
import { gpt2Model } from './gpt2/index.ts';
import { imageFolderDataset } from './image-folder/index.ts';
import { mlpModel } from './mlp/index.ts';
import { mnistDataset } from './mnist/index.ts';
import { resnetModel } from './resnet/index.ts';
import { syntheticImagesDataset } from './synthetic-images/index.ts';
import { spamAssassinDataset } from './spam-assassin/index.ts';
import { textBowModel } from './text-bow/index.ts';
import { textFileDataset } from './text-file/index.ts';
import { transformersEncoderModel } from './transformers-encoder/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/**
 * `core/mlp`, `core/cnn-small`, `core/resnet`, `core/text-bow`, `core/transformers-encoder`, `core/gpt2`, `core/mnist`,
 * `core/synthetic-images`, `core/spam-assassin`, `core/text-file`, `core/cifar10`, `core/cifar100`,
 * `core/image-folder`.
 */
export const modelsPlugin = definePlugin({
  meta: { name: '@unlearn-bench/models', version, namespace: 'core', apiVersion: API_VERSION },
  models: [mlpModel, cnnSmallModel, resnetModel, textBowModel, transformersEncoderModel, gpt2Model],
  datasets: [mnistDataset, syntheticImagesDataset, spamAssassinDataset, textFileDataset, cifar10Dataset, cifar100Dataset, imageFolderDataset],
});
