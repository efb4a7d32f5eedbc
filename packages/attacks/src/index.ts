/** @unlearn-bench/attacks: poisoning attacks, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { gaussianAttack } from './gaussian/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { gaussianAttack } from './gaussian/index.ts';
export type { GaussianOptions } from './gaussian/index.ts';

/** The built-in attacks as a plugin. */
export const attacksPlugin = definePlugin({
  meta: { name: '@unlearn-bench/attacks', version, namespace: 'core', apiVersion: API_VERSION },
  attacks: [gaussianAttack],
});
