/** @unlearn-bench/attacks: poisoning attacks, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { backdoorPatchAttack } from './backdoor-patch/index.ts';
import { cleanSubsetAttack } from './clean-subset/index.ts';
import { gaussianAttack } from './gaussian/index.ts';
import { gradientCancelingAttack } from './gradient-canceling/index.ts';
import { labelFlipAttack } from './label-flip/index.ts';
import { triggerPhraseAttack } from './trigger-phrase/index.ts';
import { witchesBrewAttack } from './witches-brew/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { gaussianAttack } from './gaussian/index.ts';
export type { GaussianOptions } from './gaussian/index.ts';
export { labelFlipAttack } from './label-flip/index.ts';
export type { LabelFlipOptions } from './label-flip/index.ts';
export { backdoorPatchAttack } from './backdoor-patch/index.ts';
export type { BackdoorPatchOptions } from './backdoor-patch/index.ts';
export { witchesBrewAttack } from './witches-brew/index.ts';
export type { WitchesBrewOptions } from './witches-brew/index.ts';
export { gradientCancelingAttack, cancelGradients } from './gradient-canceling/index.ts';
export type { GradientCancelingOptions, CancelingResult } from './gradient-canceling/index.ts';
export { cleanSubsetAttack } from './clean-subset/index.ts';
export type { CleanSubsetOptions } from './clean-subset/index.ts';
export { triggerPhraseAttack } from './trigger-phrase/index.ts';
export type { TriggerPhraseOptions } from './trigger-phrase/index.ts';

/** The built-in attacks as a plugin. */
export const attacksPlugin = definePlugin({
  meta: { name: '@unlearn-bench/attacks', version, namespace: 'core', apiVersion: API_VERSION },
  attacks: [gaussianAttack, witchesBrewAttack, gradientCancelingAttack, backdoorPatchAttack, labelFlipAttack, triggerPhraseAttack, cleanSubsetAttack],
});
