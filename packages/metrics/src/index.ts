/** @unlearn-bench/metrics: metrics, registered under the `core` namespace. */
import { createRequire } from 'node:module';
import { API_VERSION, definePlugin } from '@unlearn-bench/core';
import { accuracyMetric } from './accuracy/index.ts';
import { attackSuccessMetric } from './attack-success/index.ts';
import { computeMetric } from './compute/index.ts';
import { gradientAlignmentMetric } from './gradient-alignment/index.ts';
import { gusMetric } from './gus/index.ts';
import { miaLossMetric } from './mia-loss/index.ts';
import { nullTestMetric } from './null-test/index.ts';
import { paramDistanceMetric } from './param-distance/index.ts';
import { targetedSuccessMetric } from './targeted-success/index.ts';
import { verdictMetric } from './verdict/index.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export { accuracyMetric } from './accuracy/index.ts';
export type { AccuracyOptions } from './accuracy/index.ts';
export { attackSuccessMetric } from './attack-success/index.ts';
export type { AttackSuccessOptions } from './attack-success/index.ts';
export { gusMetric, gusScores, summarizeScores } from './gus/index.ts';
export type { GusOptions } from './gus/index.ts';
export { targetedSuccessMetric } from './targeted-success/index.ts';
export { miaLossMetric, lossAuc, calibrateThreshold } from './mia-loss/index.ts';
export type { MiaLossOptions } from './mia-loss/index.ts';
export { paramDistanceMetric, parameterDistance } from './param-distance/index.ts';
export { gradientAlignmentMetric, spanFraction } from './gradient-alignment/index.ts';
export type { GradientAlignmentOptions } from './gradient-alignment/index.ts';
export { computeMetric } from './compute/index.ts';
export { verdictMetric } from './verdict/index.ts';
export type { VerdictOptions, Verdict } from './verdict/index.ts';
export { nullTestMetric, stouffer, formatP } from './null-test/index.ts';
export type { NullTestOptions } from './null-test/index.ts';
export { selectsMetric, scoreSummaries } from './summary-input.ts';
export { erfc, normalCdf, normalQuantile, twoSidedP, meanStd, tCdf, tQuantile, pairedTTest, holmAdjust, benjaminiHochbergAdjust, poolScores, ratioInterval } from './stats.ts';
export type { PairedTest, PooledScores, ScoreSummary } from './stats.ts';

/** The built-in metrics as a plugin (per-model metrics, and the experiment-level verdict against retraining and pooled null test). */
export const metricsPlugin = definePlugin({
  meta: { name: '@unlearn-bench/metrics', version, namespace: 'core', apiVersion: API_VERSION },
  metrics: [accuracyMetric, gusMetric, attackSuccessMetric, targetedSuccessMetric, miaLossMetric, paramDistanceMetric, gradientAlignmentMetric, computeMetric],
  summaryMetrics: [verdictMetric, nullTestMetric],
});
