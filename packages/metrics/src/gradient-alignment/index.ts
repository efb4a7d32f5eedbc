/**
 * How much of the update that would undo the poison lies in the span of clean-data gradients —
 * the second explanation of Pawelczyk et al. (ICLR 2025) for why gradient-based unlearning fails:
 * if the direction from a model to the retrained model is nearly orthogonal to every clean
 * gradient, steps on clean data cannot travel it.
 *
 * On the last `layers` layers' parameters (a subspace small enough to compute), with
 * Δ = θ_retrained − θ_model and g_1..g_m the per-example loss gradients of m retain points at
 * θ_model, the value is ‖P Δ‖² / ‖Δ‖², P the orthogonal projection onto span{g_i}. A random
 * direction would give about m/d (reported as `randomBaseline`, d = subspace dimension).
 */
import * as tf from '@tensorflow/tfjs-core';
import { crossEntropy, defineMetric, inputsTensor, labelsTensor, selectExamples, type ClassifierModel, type Examples } from '@unlearn-bench/core';

/** Options of `core/gradient-alignment`. */
export interface GradientAlignmentOptions {
  /** Clean (retain) points whose gradients span the subspace. @default 64 */
  readonly samples: number;
  /** How many of the last layers to look at. @default 1 */
  readonly layers: number;
}

/**
 * ‖P t‖² / ‖t‖² for P the orthogonal projection onto span(vectors), by modified Gram–Schmidt in
 * float64 (vectors that add no new direction are skipped). Returns NaN when t = 0.
 */
export function spanFraction(vectors: readonly Float64Array[], target: Float64Array): { fraction: number; rank: number } {
  // Non-finite gradients (a diverged model) have no span: NaN, never "orthogonal".
  if (!target.every(Number.isFinite) || vectors.some((v) => !v.every(Number.isFinite))) return { fraction: Number.NaN, rank: 0 };
  const basis: Float64Array[] = [];
  for (const vector of vectors) {
    const v = Float64Array.from(vector);
    const originalNorm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    for (let pass = 0; pass < 2; pass++) {
      for (const q of basis) {
        let dot = 0;
        for (let i = 0; i < v.length; i++) dot += v[i] * q[i];
        for (let i = 0; i < v.length; i++) v[i] -= dot * q[i];
      }
    }
    const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    if (norm > 1e-10 * Math.max(originalNorm, 1e-30)) basis.push(v.map((x) => x / norm));
  }
  const total = target.reduce((a, x) => a + x * x, 0);
  if (total === 0) return { fraction: Number.NaN, rank: basis.length };
  let projected = 0;
  for (const q of basis) {
    let dot = 0;
    for (let i = 0; i < target.length; i++) dot += target[i] * q[i];
    projected += dot * dot;
  }
  return { fraction: projected / total, rank: basis.length };
}

function lastLayerVariables(model: ClassifierModel, count: number): tf.Variable[] {
  const layers = model.layers();
  if (count > layers.length) throw new Error(`the model has ${layers.length} layer(s); cannot look at the last ${count}`);
  return layers.slice(layers.length - count).flatMap((layer) => [...layer.parameters]);
}

function flatten(arrays: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(Array.from(a), offset);
    offset += a.length;
  }
  return out;
}

/** Per-example gradients of the loss w.r.t. `variables`, each flattened. */
function perExampleGradients(model: ClassifierModel, examples: Examples, variables: tf.Variable[]): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < examples.count; i++) {
    const grads = tf.tidy(() => {
      const x = inputsTensor(examples, [i]);
      const y = labelsTensor(examples, [i]);
      const { grads: byName } = tf.variableGrads(() => crossEntropy(model.logits(x), y), variables);
      return variables.map((v) => byName[v.name]);
    });
    out.push(flatten(grads.map((g) => g.dataSync())));
    tf.dispose(grads);
  }
  return out;
}

/** `core/gradient-alignment`: share of the model→retrained update inside the span of clean gradients. */
export const gradientAlignmentMetric = defineMetric<GradientAlignmentOptions>({
  id: 'gradient-alignment',
  description: 'Fraction of the update from this model to the retrained model (last layers) that lies in the span of clean-data gradients; compare with randomBaseline.',
  requires: ['parameters', 'layers'],
  references: [{ title: 'Pawelczyk et al., Machine Unlearning Fails to Remove Data Poisoning Attacks, ICLR 2025', url: 'https://arxiv.org/abs/2406.17216' }],
  results: { '': { range: [0, 1] } },
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      samples: { type: 'integer', minimum: 1, maximum: 4096, default: 64, description: 'Retain points whose gradients span the subspace.' },
      layers: { type: 'integer', minimum: 1, default: 1, description: 'How many of the last layers to look at.' },
    },
  },
  create(options, ctx) {
    let sample: Int32Array | undefined;
    return {
      compute({ model, clean, references }) {
        const variables = lastLayerVariables(model, options.layers);
        const target = flatten(lastLayerVariables(references.retrained, options.layers).map((v) => v.dataSync()));
        const current = flatten(variables.map((v) => v.dataSync()));
        for (let i = 0; i < target.length; i++) target[i] -= current[i];
        // The same clean points for every model of the group.
        sample ??= ctx.rng.fork('samples').permutation(clean.count).slice(0, Math.min(options.samples, clean.count));
        const points = selectExamples(clean, sample);
        const { fraction, rank } = spanFraction(perExampleGradients(model, points, variables), target);
        return { value: fraction, details: { rank, dimension: target.length, randomBaseline: rank / target.length, updateNorm: Math.sqrt(target.reduce((a, x) => a + x * x, 0)) } };
      },
    };
  },
});
