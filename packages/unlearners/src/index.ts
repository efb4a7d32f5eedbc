/** @unlearn-bench/unlearners: unlearning methods, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { cfKUnlearner } from './cf-k/index.ts';
import { euKUnlearner } from './eu-k/index.ts';
import { gaUnlearner } from './ga/index.ts';
import { gdUnlearner } from './gd/index.ts';
import { negGradPlusUnlearner } from './neggrad-plus/index.ts';
import { ngdUnlearner } from './ngd/index.ts';
import { noneUnlearner } from './none/index.ts';
import { retrainUnlearner } from './retrain/index.ts';
import { retrainReplicaUnlearner } from './retrain-replica/index.ts';
import { scrubUnlearner } from './scrub/index.ts';
import { ssdUnlearner } from './ssd/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { noneUnlearner } from './none/index.ts';
export { retrainUnlearner } from './retrain/index.ts';
export { retrainReplicaUnlearner } from './retrain-replica/index.ts';
export { gdUnlearner } from './gd/index.ts';
export type { GdOptions } from './gd/index.ts';
export { ngdUnlearner } from './ngd/index.ts';
export type { NgdOptions } from './ngd/index.ts';
export { gaUnlearner } from './ga/index.ts';
export type { GaOptions } from './ga/index.ts';
export { negGradPlusUnlearner } from './neggrad-plus/index.ts';
export type { NegGradPlusOptions } from './neggrad-plus/index.ts';
export { euKUnlearner } from './eu-k/index.ts';
export type { EuKOptions } from './eu-k/index.ts';
export { cfKUnlearner } from './cf-k/index.ts';
export type { CfKOptions } from './cf-k/index.ts';
export { scrubUnlearner } from './scrub/index.ts';
export type { ScrubOptions } from './scrub/index.ts';
export { ssdUnlearner } from './ssd/index.ts';
export type { SsdOptions, SsdReference } from './ssd/index.ts';

/** The built-in unlearners as a plugin. */
export const unlearnersPlugin = definePlugin({
  meta: { name: '@unlearn-bench/unlearners', version, namespace: 'core', apiVersion: API_VERSION },
  unlearners: [noneUnlearner, retrainUnlearner, retrainReplicaUnlearner, gdUnlearner, ngdUnlearner, gaUnlearner, negGradPlusUnlearner, euKUnlearner, cfKUnlearner, scrubUnlearner, ssdUnlearner],
});
