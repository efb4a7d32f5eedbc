/**
 * The GPT-2 network (Radford et al., "Language Models are Unsupervised Multitask Learners", 2019,
 * section 2.3; Hugging Face transformers `models/gpt2/modeling_gpt2.py`, whose parameter names and
 * layouts are used here so checkpoints load as they are): token + position embeddings, pre-LayerNorm
 * blocks (LayerNorm → causal multi-head self-attention → residual, LayerNorm → GELU MLP of width
 * 4·dim → residual), a final LayerNorm, the language-model head tied to the token embeddings, and a
 * classification head (`score`, no bias, as `GPT2ForSequenceClassification`) on the hidden state of
 * each text's last token. Dense layers are `x · W + b` with W `[in, out]` (HF's `Conv1D` layout).
 * Dropout (HF's default 0.1 while training) is not applied: training is deterministic.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@unlearn-bench/core';

/** The shape of a GPT-2 network. */
export interface Gpt2Config {
  /** Transformer blocks (HF `n_layer`). */
  readonly layers: number;
  /** Attention heads (HF `n_head`); must divide `dim`. */
  readonly heads: number;
  /** Width of the residual stream (HF `n_embd`). */
  readonly dim: number;
  /** Positions the position embedding covers (HF `n_positions`). */
  readonly context: number;
  /** Token ids (HF `vocab_size`). */
  readonly vocabSize: number;
  /** Width of the MLP (HF `n_inner`, null there meaning 4·dim). */
  readonly inner: number;
  /** LayerNorm ε (HF `layer_norm_epsilon`, 1e-5). */
  readonly epsilon: number;
  /** Standard deviation of the initial weights (HF `initializer_range`, 0.02). */
  readonly initStd: number;
}

/** GPT2Config's defaults in transformers (GPT-2 small: 12 layers, 12 heads, 768 wide, 1,024 positions, 50,257 tokens). */
export const GPT2_DEFAULTS = { layers: 12, heads: 12, dim: 768, context: 1024, vocabSize: 50257, epsilon: 1e-5, initStd: 0.02 } as const;

/** How a parameter is initialised (HF `GPT2PreTrainedModel._init_weights`). */
type Init = { readonly normal: number } | 'ones' | 'zeros';

/** One parameter: its Hugging Face name, shape and initialisation. */
export interface Gpt2Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: Init;
}

/** A group of parameters that EU-k / CF-k count as one layer: the embeddings, one block, or the head. */
export interface Gpt2Layer {
  readonly name: string;
  readonly parameters: readonly Gpt2Parameter[];
}

/** Parameters per block, in the order of `blockParameters`. */
export const BLOCK_SIZE = 12;

/**
 * The parameters of one block `h.{i}`. Weights are drawn from N(0, initStd²), biases are 0,
 * LayerNorm gains 1 and shifts 0; the two projections into the residual stream (`attn.c_proj`,
 * `mlp.c_proj`) from N(0, (initStd/√(2·layers))²), GPT-2's scaling of residual layers by 1/√N
 * (Radford et al. 2019, section 2.3; `_init_weights` in modeling_gpt2.py).
 */
function blockParameters(i: number, config: Gpt2Config): Gpt2Parameter[] {
  const { dim, inner, initStd, layers } = config;
  const residual = { normal: initStd / Math.sqrt(2 * layers) };
  const p = (name: string, shape: number[], init: Init): Gpt2Parameter => ({ name: `h.${i}.${name}`, shape, init });
  return [
    p('ln_1.weight', [dim], 'ones'),
    p('ln_1.bias', [dim], 'zeros'),
    p('attn.c_attn.weight', [dim, 3 * dim], { normal: initStd }),
    p('attn.c_attn.bias', [3 * dim], 'zeros'),
    p('attn.c_proj.weight', [dim, dim], residual),
    p('attn.c_proj.bias', [dim], 'zeros'),
    p('ln_2.weight', [dim], 'ones'),
    p('ln_2.bias', [dim], 'zeros'),
    p('mlp.c_fc.weight', [dim, inner], { normal: initStd }),
    p('mlp.c_fc.bias', [inner], 'zeros'),
    p('mlp.c_proj.weight', [inner, dim], residual),
    p('mlp.c_proj.bias', [dim], 'zeros'),
  ];
}

/**
 * Every parameter, grouped into layers input to output: `embeddings` (`wte.weight` [vocab, dim],
 * `wpe.weight` [context, dim]), `block0` … (one per `h.{i}`), and `head`: the final LayerNorm
 * (`ln_f`) and the classification weight `score.weight`, stored `[dim, classes]` (the transpose of
 * HF's `nn.Linear` weight), N(0, initStd²).
 */
export function gpt2Layers(config: Gpt2Config, numClasses: number): Gpt2Layer[] {
  const { dim, initStd } = config;
  return [
    {
      name: 'embeddings',
      parameters: [
        { name: 'wte.weight', shape: [config.vocabSize, dim], init: { normal: initStd } },
        { name: 'wpe.weight', shape: [config.context, dim], init: { normal: initStd } },
      ],
    },
    ...Array.from({ length: config.layers }, (_, i) => ({ name: `block${i}`, parameters: blockParameters(i, config) })),
    {
      name: 'head',
      parameters: [
        { name: 'ln_f.weight', shape: [dim], init: 'ones' },
        { name: 'ln_f.bias', shape: [dim], init: 'zeros' },
        { name: 'score.weight', shape: [dim, numClasses], init: { normal: initStd } },
      ],
    },
  ];
}

/** Initial values of `parameter`, drawn from `rng` for normal initialisers. */
export function initialValues(parameter: Gpt2Parameter, rng: Rng): Float32Array {
  const size = parameter.shape.reduce((a, b) => a * b, 1);
  if (parameter.init === 'ones') return new Float32Array(size).fill(1);
  if (parameter.init === 'zeros') return new Float32Array(size);
  return rng.normalArray(size, parameter.init.normal);
}

/** The tensors a forward pass reads, in `gpt2Layers` order. */
export interface Gpt2Weights {
  readonly wte: tf.Tensor2D;
  readonly wpe: tf.Tensor2D;
  /** Each block's 12 tensors in `blockParameters` order. */
  readonly blocks: readonly (readonly tf.Tensor[])[];
  readonly lnF: readonly [tf.Tensor1D, tf.Tensor1D];
  readonly score: tf.Tensor2D;
}

/** Splits the flat parameter list (gpt2Layers order) into the forward pass's groups. */
export function groupWeights(flat: readonly tf.Tensor[], config: Gpt2Config): Gpt2Weights {
  const blocks = Array.from({ length: config.layers }, (_, i) => flat.slice(2 + i * BLOCK_SIZE, 2 + (i + 1) * BLOCK_SIZE));
  const head = 2 + config.layers * BLOCK_SIZE;
  return {
    wte: flat[0] as tf.Tensor2D,
    wpe: flat[1] as tf.Tensor2D,
    blocks,
    lnF: [flat[head] as tf.Tensor1D, flat[head + 1] as tf.Tensor1D],
    score: flat[head + 2] as tf.Tensor2D,
  };
}

/** LayerNorm over the last axis: (x − mean)/√(var + ε)·γ + β, biased variance (torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GPT-2's GELU, the tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (HF `gelu_new`,
 * Hendrycks & Gimpel 2016, arXiv 1606.08415), computed as x·σ(2·√(2/π)·(x + 0.044715·x³)), the same
 * function (0.5·(1 + tanh z) = σ(2z)): wasm's Sigmoid is vectorised, its Tanh and Pow are scalar
 * loops that took over a third of a training step.
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const cubic = tf.mul(tf.mul(x, x), x);
  return tf.mul(x, tf.sigmoid(tf.mul(tf.add(x, tf.mul(cubic, 0.044715)), 2 * GELU_C)));
}

/** `x · W + b` for `x` `[n, in]` (one fused product: the engine's _FusedMatMul kernel). */
function dense(x: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: weight as tf.Tensor2D, bias }) as tf.Tensor2D;
}

/**
 * Additive attention mask `[batch, 1, T, T]`: 0 where query i may attend key j (j ≤ i, causal, and
 * j inside the text, the padding mask), else −1e9 (HF adds the dtype's minimum; either gives the
 * masked keys a weight of exactly 0 after the softmax).
 */
export function attentionMask(lengths: readonly number[], T: number): tf.Tensor4D {
  const mask = new Float32Array(lengths.length * T * T);
  lengths.forEach((length, b) => {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) if (j > i || j >= length) mask[(b * T + i) * T + j] = -1e9;
    }
  });
  return tf.tensor4d(mask, [lengths.length, 1, T, T]);
}

/**
 * One pre-LayerNorm block on `h` `[batch·T, dim]`: h + attn(ln_1(h)), then + mlp(ln_2(·)).
 * Attention: q, k, v from `c_attn`, split into heads `[batch, heads, T, dim/heads]`,
 * softmax(q·kᵀ/√(dim/heads) + mask)·v as batched products, heads merged, then `c_proj`.
 */
function block(h: tf.Tensor2D, w: readonly tf.Tensor[], mask: tf.Tensor4D, batch: number, T: number, config: Gpt2Config): tf.Tensor2D {
  const { dim, heads, epsilon } = config;
  const headDim = dim / heads;
  const [ln1g, ln1b, attnW, attnB, projW, projB, ln2g, ln2b, fcW, fcB, mlpW, mlpB] = w;
  const a = layerNorm(h, ln1g, ln1b, epsilon) as tf.Tensor2D;
  // q, k and v from column blocks of c_attn (slicing the [dim, 3·dim] weight is cheaper than
  // splitting the [batch·T, 3·dim] product and concatenating its gradient).
  const [q, k, v] = [0, 1, 2].map((part) => {
    const projected = dense(a, tf.slice(attnW, [0, part * dim], [dim, dim]), tf.slice(attnB, [part * dim], [dim]));
    return tf.transpose(tf.reshape(projected, [batch, T, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  });
  const scores = tf.add(tf.matMul(tf.mul(q, 1 / Math.sqrt(headDim)), k, false, true), mask);
  const attended = tf.matMul(tf.softmax(scores), v) as tf.Tensor4D;
  const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch * T, dim]) as tf.Tensor2D;
  const h1 = tf.add(h, dense(merged, projW, projB)) as tf.Tensor2D;
  const m = layerNorm(h1, ln2g, ln2b, epsilon) as tf.Tensor2D;
  return tf.add(h1, dense(geluNew(dense(m, fcW, fcB)) as tf.Tensor2D, mlpW, mlpB)) as tf.Tensor2D;
}

/**
 * The final hidden states (before `ln_f`) `[batch·T, dim]` of token embeddings `tokens`
 * `[batch, T, dim]` for texts of `lengths` (right-padded to T).
 */
export function hiddenStates(tokens: tf.Tensor3D, lengths: readonly number[], weights: Gpt2Weights, config: Gpt2Config): tf.Tensor2D {
  const [batch, T, dim] = tokens.shape;
  const positions = tf.slice(weights.wpe, [0, 0], [T, dim]);
  let h = tf.reshape(tf.add(tokens, positions), [batch * T, dim]) as tf.Tensor2D;
  const mask = attentionMask(lengths, T);
  for (const w of weights.blocks) h = block(h, w, mask, batch, T, config);
  return h;
}

/** Class logits `[batch, classes]`: `ln_f` of each text's last token's hidden state, times `score`. */
export function classify(hidden: tf.Tensor2D, lengths: readonly number[], T: number, weights: Gpt2Weights, config: Gpt2Config): tf.Tensor2D {
  const last = tf.gather(hidden, Int32Array.from(lengths, (length, b) => b * T + length - 1));
  return tf.matMul(layerNorm(last, weights.lnF[0], weights.lnF[1], config.epsilon) as tf.Tensor2D, weights.score);
}

/** Language-model logits `[batch, T, vocab]`: `ln_f` of every position times the token embeddings (the tied LM head). */
export function languageModelLogits(hidden: tf.Tensor2D, batch: number, T: number, weights: Gpt2Weights, config: Gpt2Config): tf.Tensor3D {
  const normed = layerNorm(hidden, weights.lnF[0], weights.lnF[1], config.epsilon) as tf.Tensor2D;
  return tf.reshape(tf.matMul(normed, weights.wte, false, true), [batch, T, config.vocabSize]);
}
