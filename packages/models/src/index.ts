/** @unlearn-bench/models: tensor engine, model architectures and datasets. */
export { createEngine } from './engine/index.ts';
export type { BackendChoice, EngineOptions } from './engine/index.ts';

export { mlpModel } from './mlp/index.ts';
export type { MlpOptions } from './mlp/index.ts';
export { cnnSmallModel } from './cnn-small/index.ts';
export type { CnnSmallOptions } from './cnn-small/index.ts';
export { mnistDataset } from './mnist/index.ts';
export type { MnistOptions } from './mnist/index.ts';
export { syntheticImagesDataset } from './synthetic-images/index.ts';
export type { SyntheticImagesOptions } from './synthetic-images/index.ts';
export { textBowModel, createHashingFeaturizer } from './text-bow/index.ts';
export type { TextBowOptions } from './text-bow/index.ts';
export { transformersEncoderModel } from './transformers-encoder/index.ts';
export type { TransformersEncoderOptions } from './transformers-encoder/index.ts';
export { writeTinyEncoder } from './transformers-encoder/tiny-encoder.ts';
export type { TinyEncoderOptions } from './transformers-encoder/tiny-encoder.ts';
export { spamAssassinDataset } from './spam-assassin/index.ts';
export type { SpamAssassinOptions } from './spam-assassin/index.ts';
export { textFileDataset } from './text-file/index.ts';
export type { TextFileOptions } from './text-file/index.ts';
export { cifar10Dataset } from './cifar10/index.ts';
export type { Cifar10Options } from './cifar10/index.ts';
export { cifar100Dataset } from './cifar100/index.ts';
export type { Cifar100Options } from './cifar100/index.ts';
export { imageFolderDataset } from './image-folder/index.ts';
export type { ImageFolderOptions } from './image-folder/index.ts';
export { modelsPlugin } from './plugin.ts';
