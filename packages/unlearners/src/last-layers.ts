/**
 * What EU-k and CF-k share (Goel et al., arXiv 2201.06640): train only the last k layers of a copy
 * of the model on the retain set until the budget is spent; EU-k re-initialises them first.
 */
import { trainSgd, type ClassifierModel, type PluginContext, type UnlearnInput } from '@unlearn-bench/core';
import { applyOverrides, type RecipeOverrides } from './recipe.ts';

/** Options both methods take. */
export interface LastLayersOptions extends RecipeOverrides {
  /** Number of last layers to train. */
  readonly k: number;
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
  checkK(`core/${method}`, options.k, model.layers().map((l) => l.name));
  const copy = model.clone();
  const last = copy.layers().slice(-options.k);
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
