/** Every built-in plugin, in registration order. */
import { attacksPlugin } from '@unlearn-bench/attacks';
import type { Plugin } from '@unlearn-bench/core';
import { metricsPlugin } from '@unlearn-bench/metrics';
import { modelsPlugin } from '@unlearn-bench/models';
import { unlearnersPlugin } from '@unlearn-bench/unlearners';

/** The plugins that ship with unlearn-bench (namespace `core`). */
export const builtinPlugins: readonly Plugin[] = [modelsPlugin, attacksPlugin, unlearnersPlugin, metricsPlugin];
