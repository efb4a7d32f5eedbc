/**
 * What EU-k and CF-k share (Goel et al., arXiv 2201.06640): train only the last k layers of a copy
 * of the model on the retain set until the budget is spent; EU-k re-initialises them first. A layer
 * is one entry of `model.layers()`: a dense or convolution layer with its kernel and bias, which is
 * what the authors count (`resetFinalResnet` in methods.py counts nn.Linear and nn.Conv2d modules).
 */
import { trainSgd, type ClassifierModel, type PluginContext, type UnlearnInput } from '@unlearn-bench/core';
import { applyOverrides, type RecipeOverrides } from './recipe.ts';

/** Options both methods take. */
export interface LastLayersOptions extends RecipeOverrides {
  /** Number of last layers to train; null: ⌈L/2⌉ of the model's L layers (see defaultK). */
  readonly k: number | null;
}

/** JSON Schema of `k`, shared by both methods. */
export const K_PROPERTY = {
  type: ['integer', 'null'],
  minimum: 1,
  default: null,
  description:
    'Number of last layers (dense or convolution, each with its bias) to train, from 1 (the classifier layer) to the model’s layer count; null uses the last half, rounded up: ⌈L/2⌉ of the model’s L layers (2 of 3 for an MLP with two hidden layers, 2 of 4 for core/cnn-small, 1 of 2 for an MLP with one).',
} as const;

/**
 * The default k for a model with `layerCount` layers: ⌈L/2⌉. Goel et al. sweep k from the
 * classifier layer up to about half of the network's weight layers (k ∈ {1, 3, 5, 7} of ResNet-20's
 * 20 in scripts/unlearn.sh, k ∈ {10, 50} of ResNet-110's 110 in scripts/cifar10-exch.sh); the top
 * of that range is the strongest setting that still keeps the first layers.
 */
export function defaultK(layerCount: number): number {
  return Math.max(1, Math.ceil(layerCount / 2));
}

/** Throws a readable error when the model has fewer than `k` layers. */
export function checkK(method: string, k: number, layerNames: readonly string[]): void {
  if (k > layerNames.length) {
    throw new RangeError(`${method}: options.k is ${k} but the model has ${layerNames.length} layer(s) (${layerNames.join(', ')}); set k between 1 and ${layerNames.length}`);
  }
}

/** A copy of `input.model` whose last k layers (re-initialised if asked) were trained on the retain set. */
export function trainLastLayers(
  method: 'eu-k' | 'cf-k',
  { model, retain, training }: UnlearnInput,
  options: LastLayersOptions,
  ctx: PluginContext,
  reinitialize: boolean,
): ClassifierModel {
  const maxExamples = ctx.meter.remaining;
  if (!Number.isFinite(maxExamples)) throw new RangeError(`core/${method} needs a finite budget`);
  const layerNames = model.layers().map((l) => l.name);
  const k = options.k ?? defaultK(layerNames.length);
  checkK(`core/${method}`, k, layerNames);
  const copy = model.clone();
  const last = copy.layers().slice(-k);
  if (reinitialize) {
    const initRng = ctx.rng.fork('reinitialize');
    for (const layer of last) layer.reinitialize(initRng);
  }
  trainSgd(copy, retain, {
    ...applyOverrides(training, options),
    epochs: Math.ceil(maxExamples / Math.max(1, retain.count)) + 1,
    maxExamples,
    variables: last.flatMap((layer) => layer.parameters),
    rng: ctx.rng,
    meter: ctx.meter,
    logger: ctx.logger,
    label: method,
  });
  return copy;
}
