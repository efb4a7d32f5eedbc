/**
 * Gaussian Unlearning Score (Pawelczyk et al., ICLR 2025, arXiv 2406.17216).
 *
 * For each Gaussian poison with base input x, label y and noise ξ ~ N(0, σ²I):
 *   g = ∇ₓ ℓ(θ; x, y)  (input gradient of the loss at the clean base point)
 *   I = ⟨ξ, g⟩ / (σ ‖g‖₂)
 * If θ never saw ξ, ξ is independent of g and I ~ N(0, 1) exactly. Training on x + ξ lowers the
 * loss along ξ, so a model that remembers the poisons has a NEGATIVE mean I (sign convention used
 * throughout: more negative = more memorised). Reported: z = √k · mean(I) (value), its two-sided
 * p-value, the fraction of poisons with I below Φ⁻¹(0.01) (true-positive rate at 1%
 * false-positive rate against the N(0, 1) null), and every score I (details `scores`, see
 * `encodeScores`) for the report's histograms. For token models (core/gpt2) x, ξ and g are the
 * token embeddings of the text (see core/gaussian). Control: the same statistic with fresh noise
 * ξ' (never trained on), reported as `gus:fresh-noise`; it must look null for every model.
 */
import { GAUSSIAN_NOISE, defineMetric, exampleSize, inputGradients, type MetricResult, createExamples } from '@unlearn-bench/core';
import { meanStd, normalQuantile, twoSidedP } from '../stats.ts';

/** Options of `core/gus`. */
export interface GusOptions {
  /** Also compute the fresh-noise control. @default true */
  readonly control: boolean;
  /** Examples per input-gradient batch. @default 256 */
  readonly batchSize: number;
}

const ONE_PERCENT_THRESHOLD = normalQuantile(0.01);

/** The per-poison scores I = ⟨ξ, g⟩ / (σ‖g‖); rows whose gradient is exactly zero are skipped. */
export function gusScores(gradients: Float32Array, noise: Float32Array, sigma: number, size: number): { scores: Float64Array; skipped: number } {
  const count = gradients.length / size;
  const scores: number[] = [];
  let skipped = 0;
  for (let i = 0; i < count; i++) {
    let dot = 0;
    let norm = 0;
    for (let j = i * size; j < (i + 1) * size; j++) {
      dot += noise[j] * gradients[j];
      norm += gradients[j] * gradients[j];
    }
    if (norm === 0) skipped++;
    else scores.push(dot / (sigma * Math.sqrt(norm)));
  }
  return { scores: Float64Array.from(scores), skipped };
}

/** Decimals kept per stored score: 1e-4 is far below the spread of N(0, 1) scores and keeps each to about 7 characters. */
const SCORE_DECIMALS = 4;

/**
 * The per-poison scores as metric details can hold them (details are scalars): each rounded to 4
 * decimals, separated by single spaces, e.g. `-0.6123 1.0451 0.0007`.
 */
export function encodeScores(scores: Float64Array): string {
  return Array.from(scores, (s) => String(Number(s.toFixed(SCORE_DECIMALS)))).join(' ');
}

/** Summary statistics of GUS scores against the N(0, 1) null, with the scores themselves (`details.scores`). */
export function summarizeScores(scores: Float64Array, skipped: number, sigma: number, name?: string): MetricResult {
  const k = scores.length;
  const { mean, std } = meanStd(scores);
  const z = Math.sqrt(k) * mean;
  let detected = 0;
  for (const s of scores) if (s < ONE_PERCENT_THRESHOLD) detected++;
  return {
    name,
    value: z,
    details: { mean, std, k, skipped, sigma, pValue: twoSidedP(z), tprAt1Fpr: k > 0 ? detected / k : Number.NaN, scores: encodeScores(scores) },
  };
}

/** `core/gus`: Gaussian Unlearning Score with the fresh-noise control. */
export const gusMetric = defineMetric<GusOptions>({
  id: 'gus',
  description: 'Gaussian Unlearning Score: z = √k·mean ⟨ξ, ∇ₓℓ⟩/(σ‖∇ₓℓ‖) over Gaussian poisons (negative = poison remembered; N(0,1) null).',
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  results: {
    // Margin in units of the per-poison score I (N(0, 1) for a clean model): 0.1 is a sixth of the
    // poisoned quickstart models' mean I (z ≈ −12 over k = 400 poisons, mean I ≈ −0.6); over the
    // quickstart's 800 pooled scores (2 seeds × 400 poisons) it moves z = √K · mean by 2.8.
    '': { margin: 0.1, null: 'standard-normal-scores' },
    'fresh-noise': { margin: 0.1, null: 'standard-normal-scores' },
  },
  requires: ['input-gradients'],
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      control: { type: 'boolean', default: true, description: 'Also report the fresh-noise control as gus:fresh-noise.' },
      batchSize: { type: 'integer', minimum: 1, default: 256, description: 'Examples per input-gradient batch.' },
    },
  },
  create(options, ctx) {
    let freshNoise: Float32Array | undefined;
    let warned = false;
    return {
      compute({ model, artifacts }) {
        const record = artifacts.get(GAUSSIAN_NOISE);
        if (!record) {
          // Another attack in the same manifest (e.g. a control): GUS does not apply to its cells.
          if (!warned) ctx.logger.warn('core/gus needs Gaussian poisons (core/gaussian); this attack left none, so GUS is reported as n/a here.');
          warned = true;
          return { value: Number.NaN, details: { applicable: false } };
        }
        // Token models: ξ and the gradient live in the token embeddings (noiseShape), not in the rows.
        const size = exampleSize(record.noiseShape ?? record.inputShape);
        const base = createExamples(record.baseInputs, record.labels, record.inputShape);
        const gradients = inputGradients(model, base, options.batchSize);
        if (gradients.length !== record.noise.length) {
          throw new RangeError(`the input gradients have ${gradients.length / record.count} values per poison and the noise ${size}: the model's input space is not the one the poisons were made for`);
        }
        const real = gusScores(gradients, record.noise, record.sigma, size);
        const results: MetricResult[] = [summarizeScores(real.scores, real.skipped, record.sigma)];
        if (options.control) {
          // One fresh draw per cell group, shared by every model so controls are comparable.
          freshNoise ??= ctx.rng.fork('fresh-noise').normalArray(record.noise.length, record.sigma);
          const control = gusScores(gradients, freshNoise, record.sigma, size);
          results.push(summarizeScores(control.scores, control.skipped, record.sigma, 'fresh-noise'));
        }
        return results;
      },
    };
  },
});
