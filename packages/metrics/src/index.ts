/** @unlearn-bench/metrics: metrics, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { accuracyMetric } from './accuracy/index.ts';
import { gusMetric } from './gus/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { accuracyMetric } from './accuracy/index.ts';
export type { AccuracyOptions } from './accuracy/index.ts';
export { gusMetric, gusScores, summarizeScores } from './gus/index.ts';
export type { GusOptions } from './gus/index.ts';
export { erfc, normalCdf, normalQuantile, twoSidedP, meanStd } from './stats.ts';

/** The built-in metrics as a plugin. */
export const metricsPlugin = definePlugin({
  meta: { name: '@unlearn-bench/metrics', version, namespace: 'core', apiVersion: API_VERSION },
  metrics: [accuracyMetric, gusMetric],
});
