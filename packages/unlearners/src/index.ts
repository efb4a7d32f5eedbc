/** @unlearn-bench/unlearners: unlearning methods, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { gdUnlearner } from './gd/index.ts';
import { noneUnlearner } from './none/index.ts';
import { retrainUnlearner } from './retrain/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { noneUnlearner } from './none/index.ts';
export { retrainUnlearner } from './retrain/index.ts';
export { gdUnlearner } from './gd/index.ts';
export type { GdOptions } from './gd/index.ts';

/** The built-in unlearners as a plugin. */
export const unlearnersPlugin = definePlugin({
  meta: { name: '@unlearn-bench/unlearners', version, namespace: 'core', apiVersion: API_VERSION },
  unlearners: [noneUnlearner, retrainUnlearner, gdUnlearner],
});
