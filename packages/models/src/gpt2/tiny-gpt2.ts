/**
 * Writes a tiny GPT-2 checkpoint folder in Hugging Face's layout (config.json, model.safetensors,
 * tokenizer.json, tokenizer_config.json) with weights drawn from a seeded rng, so tests and examples
 * load a real checkpoint without a download. The tokenizer is GPT-2-style byte-level BPE with the
 * given merges.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from '@unlearn-bench/core';
import { gpt2Layers, type Gpt2Config } from './architecture.ts';
import { encodeSafetensors } from './safetensors.ts';
import { byteLevelTokenizer } from './tokenizer.ts';

/** Options of `writeTinyGpt2`. */
export interface TinyGpt2Options {
  readonly layers: number;
  readonly heads: number;
  readonly dim: number;
  readonly context: number;
  /** BPE merges after the byte alphabet, e.g. `[['Ġ', 't'], ['h', 'e']]`. @default [] */
  readonly merges?: readonly (readonly [string, string])[];
  /** Standard deviation of every weight, bias and LayerNorm parameter (random, so every term of the forward pass matters). */
  readonly std: number;
  readonly rng: Rng;
  /** Write names as GPT2LMHeadModel's save_pretrained does (`transformer.` prefix, `lm_head.weight`, causal-mask buffers). @default false */
  readonly lmHeadLayout?: boolean;
}

/** What `writeTinyGpt2` wrote: the folder, the configuration and every tensor by HF name (without prefix). */
export interface TinyGpt2 {
  readonly folder: string;
  readonly config: Gpt2Config;
  readonly tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly values: Float32Array }>;
}

/** Writes the tiny checkpoint into `folder` (created if missing). */
export function writeTinyGpt2(folder: string, options: TinyGpt2Options): TinyGpt2 {
  const files = byteLevelTokenizer(options.merges ?? []);
  const vocab = (files.tokenizer.model as { vocab: Record<string, number> }).vocab;
  const vocabSize = Object.keys(vocab).length + 1;
  const config: Gpt2Config = { layers: options.layers, heads: options.heads, dim: options.dim, context: options.context, vocabSize, inner: 4 * options.dim, epsilon: 1e-5, initStd: 0.02 };
  const tensors = new Map<string, { shape: readonly number[]; values: Float32Array }>();
  for (const parameter of gpt2Layers(config, 1).flatMap((layer) => layer.parameters)) {
    if (parameter.name === 'score.weight') continue;
    const size = parameter.shape.reduce((a, b) => a * b, 1);
    const values = options.rng.normalArray(size, options.std);
    // LayerNorm gains around 1, so the network stays well scaled.
    if (/ln_\w+\.weight$/.test(parameter.name)) for (let i = 0; i < size; i++) values[i] += 1;
    tensors.set(parameter.name, { shape: parameter.shape, values });
  }
  const stored = new Map<string, { shape: readonly number[]; values: Float32Array }>();
  for (const [name, tensor] of tensors) stored.set(options.lmHeadLayout ? `transformer.${name}` : name, tensor);
  if (options.lmHeadLayout) {
    stored.set('lm_head.weight', tensors.get('wte.weight')!);
    const causal = new Float32Array(options.context * options.context).map((_, i) => (i % options.context <= Math.floor(i / options.context) ? 1 : 0));
    for (let i = 0; i < options.layers; i++) stored.set(`transformer.h.${i}.attn.bias`, { shape: [1, 1, options.context, options.context], values: causal });
  }
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'model.safetensors'), encodeSafetensors(stored, { format: 'pt' }));
  writeFileSync(
    join(folder, 'config.json'),
    JSON.stringify({
      model_type: 'gpt2',
      architectures: [options.lmHeadLayout ? 'GPT2LMHeadModel' : 'GPT2Model'],
      n_layer: options.layers,
      n_head: options.heads,
      n_embd: options.dim,
      n_positions: options.context,
      n_ctx: options.context,
      vocab_size: vocabSize,
      n_inner: null,
      activation_function: 'gelu_new',
      layer_norm_epsilon: 1e-5,
      initializer_range: 0.02,
      bos_token_id: vocabSize - 1,
      eos_token_id: vocabSize - 1,
    }),
  );
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(files.tokenizer));
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify(files.config));
  return { folder, config, tensors };
}
