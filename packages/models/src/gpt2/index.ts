/**
 * `gpt2`: GPT-2 trained end to end in TF.js as a text classifier, so that a poison can live anywhere
 * in the network (the study's language-model setting: GPT-2 fine-tuned on IMDb, Pawelczyk et al.,
 * ICLR 2025, arXiv 2406.17216), either loaded from a local Hugging Face checkpoint folder
 * (`config.json`, `model.safetensors`, `tokenizer.json`) or built from a `config` and trained from
 * scratch. The featurizer is the tokenizer: texts become rows of token ids (`TokenInputs`), and the
 * whole network runs on every training step. Input gradients and Gaussian poisons are in the token
 * embeddings (see `ClassifierModel.embed`).
 */
import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import {
  defineModel,
  resolveOptionPath,
  TOKEN_PADDING,
  tokenNoise,
  tokenRowSize,
  type Capability,
  type ClassifierModel,
  type LogitsOptions,
  type ModelLayer,
  type Rng,
  type TokenInputs,
} from '@unlearn-bench/core';
import { MODEL_CAPABILITIES } from '../layers.ts';
import { classify, GPT2_DEFAULTS, gpt2Layers, groupWeights, hiddenStates, initialValues, languageModelLogits, type Gpt2Config, type Gpt2Layer, type Gpt2Weights } from './architecture.ts';
import { readGpt2Checkpoint, type Gpt2Checkpoint } from './checkpoint.ts';
import { BYTE_LEVEL, createTokenEncoder, tokenizerFiles, tokenizerVocabSize, type TokenizerSource } from './tokenizer.ts';

/** The shape of a GPT-2 built from scratch (`config`); defaults are GPT-2 small's (transformers' GPT2Config). */
export interface Gpt2ConfigOptions {
  /** Transformer blocks (n_layer). @default 12 */
  readonly layers: number;
  /** Attention heads (n_head); must divide dim. @default 12 */
  readonly heads: number;
  /** Width (n_embd). @default 768 */
  readonly dim: number;
  /** Position embeddings (n_positions). @default 1024 */
  readonly context: number;
  /** Token ids (vocab_size); null: the tokenizer's vocabulary size. @default null */
  readonly vocabSize: number | null;
}

/** Options of `core/gpt2`. */
export interface Gpt2Options {
  /** Local Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors, tokenizer files); null: build from `config`. @default null */
  readonly model: string | null;
  /** Build a new GPT-2 of this shape, trained from scratch (when `model` is null). @default null */
  readonly config: Gpt2ConfigOptions | null;
  /** Folder with tokenizer.json (+ tokenizer_config.json), `"byte-level"` for GPT-2's byte alphabet in memory, or null: the `model` folder. @default null */
  readonly tokenizer: string | null;
  /** Tokens per text: longer texts are cut (from the end), shorter ones padded. @default 128 */
  readonly maxLength: number;
  /** `"all"`, or the number of last blocks that train (with the head; 0: the head alone); the rest is frozen. @default "all" */
  readonly trainable: 'all' | number;
}

/** Everything a factory needs, resolved from the options once. */
interface Gpt2Setup {
  readonly config: Gpt2Config;
  readonly numClasses: number;
  readonly maxLength: number;
  /** Index in `layers` of the first trainable layer. */
  readonly firstTrainable: number;
  readonly layers: readonly Gpt2Layer[];
  readonly tokenInputs: TokenInputs;
  /** Pretrained values by HF name (checkpoint mode). */
  readonly checkpoint?: Gpt2Checkpoint;
}

let modelCount = 0;

/** The rows of a batch of token inputs, read on the CPU (lengths decide the attention mask and the pooled token). */
interface TokenRows {
  readonly batch: number;
  /** Token ids `[batch, maxLength]`, padding as 0 (a valid index whose embedding no output depends on). */
  readonly ids: Int32Array;
  readonly lengths: number[];
  /** Noise seed and σ per row (seed 0: none). */
  readonly noise: { readonly seed: number; readonly sigma: number }[];
}

/** A GPT-2 classifier over TF.js variables (see the module comment). */
export class Gpt2Model implements ClassifierModel {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly capabilities: ReadonlySet<Capability> = new Set(MODEL_CAPABILITIES);
  readonly tokenInputs: TokenInputs;
  /** One variable per parameter, in `gpt2Layers` order. */
  private readonly variables: tf.Variable[];
  private readonly weights: Gpt2Weights;
  private readonly trainable: tf.Variable[];
  private readonly frozen: tf.Variable[];
  private readonly modelLayers: ModelLayer[];

  /** `values`: every parameter in `gpt2Layers` order. */
  constructor(
    private readonly setup: Gpt2Setup,
    values: readonly Float32Array[],
  ) {
    this.inputShape = [tokenRowSize(setup.maxLength)];
    this.numClasses = setup.numClasses;
    this.tokenInputs = setup.tokenInputs;
    const prefix = `gpt2_${modelCount++}`;
    let next = 0;
    const perLayer = setup.layers.map((layer, i) =>
      layer.parameters.map((parameter) => {
        const initial = tf.tensor(values[next++], [...parameter.shape], 'float32');
        const variable = tf.variable(initial, i >= setup.firstTrainable, `${prefix}/${parameter.name}`);
        initial.dispose();
        return variable;
      }),
    );
    this.variables = perLayer.flat();
    this.weights = groupWeights(this.variables, setup.config);
    this.trainable = perLayer.slice(setup.firstTrainable).flat();
    this.frozen = perLayer.slice(0, setup.firstTrainable).flat();
    this.modelLayers = setup.layers.slice(setup.firstTrainable).map((layer, j) => {
      const variables = perLayer[setup.firstTrainable + j];
      return {
        name: layer.name,
        parameters: variables,
        reinitialize: (rng: Rng) => layer.parameters.forEach((parameter, k) => assign(variables[k], initialValues(parameter, rng))),
      };
    });
  }

  logits(inputs: tf.Tensor, options?: LogitsOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const rows = this.readRows(inputs);
      const T = Math.max(...rows.lengths);
      let tokens: tf.Tensor3D;
      if (options?.embeddings) {
        const { maxLength } = this.setup;
        const { dim } = this.setup.config;
        const shape = options.embeddings.shape;
        if (shape.length !== 3 || shape[0] !== rows.batch || shape[1] !== maxLength || shape[2] !== dim) {
          throw new RangeError(`logits: embeddings have shape [${shape.join(', ')}], expected [${rows.batch}, ${maxLength}, ${dim}] (embed(inputs))`);
        }
        tokens = tf.slice(options.embeddings as tf.Tensor3D, [0, 0, 0], [rows.batch, T, dim]);
      } else {
        tokens = this.tokenEmbeddings(rows, T);
      }
      const hidden = hiddenStates(tokens, rows.lengths, this.weights, this.setup.config);
      return classify(hidden, rows.lengths, T, this.weights, this.setup.config);
    });
  }

  /** Token embeddings `[batch, maxLength, dim]` with each row's Gaussian noise added. */
  embed(inputs: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => this.tokenEmbeddings(this.readRows(inputs), this.setup.maxLength));
  }

  /**
   * Next-token logits `[batch, T, vocab]` of the tied language-model head (`wte` as the output
   * projection, as GPT2LMHeadModel), T the longest text of the batch. Not used by the benchmark's
   * classification; there for checks against reference implementations and language-model losses.
   */
  languageModelLogits(inputs: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const rows = this.readRows(inputs);
      const T = Math.max(...rows.lengths);
      const hidden = hiddenStates(this.tokenEmbeddings(rows, T), rows.lengths, this.weights, this.setup.config);
      return languageModelLogits(hidden, rows.batch, T, this.weights, this.setup.config);
    });
  }

  parameters(): readonly tf.Variable[] {
    return this.trainable;
  }

  /** The frozen parameters (`trainable` below all): state the forward pass reads and no optimizer updates. */
  buffers(): readonly tf.Variable[] {
    return this.frozen;
  }

  layers(): readonly ModelLayer[] {
    return this.modelLayers;
  }

  clone(): ClassifierModel {
    return new Gpt2Model(this.setup, this.variables.map((v) => v.dataSync().slice() as Float32Array));
  }

  getWeights(): Float32Array[] {
    return [...this.trainable, ...this.frozen].map((v) => v.dataSync().slice() as Float32Array);
  }

  setWeights(weights: readonly Float32Array[]): void {
    const state = [...this.trainable, ...this.frozen];
    if (weights.length !== state.length) throw new RangeError(`setWeights got ${weights.length} arrays, expected ${state.length} (${this.trainable.length} trainable, then ${this.frozen.length} frozen parameters)`);
    state.forEach((variable, i) => {
      if (weights[i].length !== variable.size) throw new RangeError(`setWeights: array ${i} (${variable.name}) has ${weights[i].length} values, expected ${variable.size}`);
    });
    state.forEach((variable, i) => assign(variable, weights[i].slice()));
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  /** Reads and checks the token rows of `inputs` `[batch, maxLength + 2]`. */
  private readRows(inputs: tf.Tensor): TokenRows {
    const { maxLength } = this.setup;
    const { vocabSize } = this.setup.config;
    const rowSize = tokenRowSize(maxLength);
    if (inputs.shape.length !== 2 || inputs.shape[1] !== rowSize) {
      throw new RangeError(`core/gpt2 takes token rows [batch, ${rowSize}] (maxLength ${maxLength} ids, noise seed, σ), got [${inputs.shape.join(', ')}]; its featurizer makes them from texts`);
    }
    const batch = inputs.shape[0];
    if (batch === 0) throw new RangeError('core/gpt2: empty batch');
    const values = inputs.dataSync();
    const ids = new Int32Array(batch * maxLength);
    const lengths: number[] = [];
    const noise: { seed: number; sigma: number }[] = [];
    for (let b = 0; b < batch; b++) {
      const row = values.subarray(b * rowSize, (b + 1) * rowSize);
      let length = 0;
      while (length < maxLength && row[length] !== TOKEN_PADDING) {
        const id = row[length];
        if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`core/gpt2: row ${b} has token id ${id} at position ${length}; ids are integers in 0..${vocabSize - 1}, then ${TOKEN_PADDING} as padding`);
        ids[b * maxLength + length] = id;
        length++;
      }
      if (length === 0) throw new RangeError(`core/gpt2: row ${b} has no token (its first value is the padding ${TOKEN_PADDING})`);
      for (let t = length; t < maxLength; t++) if (row[t] !== TOKEN_PADDING) throw new RangeError(`core/gpt2: row ${b} has token ${row[t]} at position ${t} after padding at ${length}`);
      lengths.push(length);
      noise.push({ seed: row[maxLength], sigma: row[maxLength + 1] });
    }
    return { batch, ids, lengths, noise };
  }

  /** `wte` rows of the first T ids of every row, plus each row's Gaussian noise (its first T positions). */
  private tokenEmbeddings(rows: TokenRows, T: number): tf.Tensor3D {
    const { maxLength } = this.setup;
    const { dim } = this.setup.config;
    const ids = T === maxLength ? rows.ids : new Int32Array(rows.batch * T).map((_, i) => rows.ids[Math.floor(i / T) * maxLength + (i % T)]);
    const tokens = tf.reshape(tf.gather(this.weights.wte, tf.tensor1d(ids, 'int32')), [rows.batch, T, dim]) as tf.Tensor3D;
    if (!rows.noise.some((n) => n.seed !== 0 && n.sigma !== 0)) return tokens;
    const noise = new Float32Array(rows.batch * T * dim);
    rows.noise.forEach(({ seed, sigma }, b) => {
      if (seed !== 0 && sigma !== 0) noise.set(tokenNoise(seed, sigma, maxLength * dim).subarray(0, T * dim), b * T * dim);
    });
    return tf.add(tokens, tf.tensor3d(noise, [rows.batch, T, dim]));
  }
}

function assign(variable: tf.Variable, values: Float32Array): void {
  tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
}

/** The last checkpoint read, kept for the next factory of the same run (one per seed × attack). */
let lastCheckpoint: { readonly key: string; readonly checkpoint: Gpt2Checkpoint } | undefined;

function loadCheckpoint(folder: string): Gpt2Checkpoint {
  const key = `${folder}:${statSync(folder).mtimeMs}`;
  if (lastCheckpoint?.key !== key) lastCheckpoint = { key, checkpoint: readGpt2Checkpoint(folder) };
  return lastCheckpoint.checkpoint;
}

/** Where the checkpoint folder and the tokenizer are, as absolute paths. */
function locate(options: Gpt2Options, baseDir: string | undefined): { readonly folder: string | null; readonly tokenizer: TokenizerSource } {
  if (options.model !== null && options.config !== null) throw new Error('core/gpt2 takes either options.model (a checkpoint folder) or options.config (a new model), not both');
  if (options.model === null && options.config === null) {
    throw new Error('core/gpt2 needs options.model, a local Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors, tokenizer.json), or options.config to build a new model, e.g. { "layers": 2, "heads": 2, "dim": 64, "context": 128 } with "tokenizer": "byte-level"');
  }
  let folder: string | null = null;
  if (options.model !== null) {
    folder = resolveOptionPath({ baseDir }, options.model);
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new Error(`core/gpt2: options.model ${folder} is not a folder; download a GPT-2 checkpoint (config.json, model.safetensors, tokenizer.json, tokenizer_config.json) into it`);
  }
  if (options.tokenizer === BYTE_LEVEL) return { folder, tokenizer: { kind: 'byte-level' } };
  const tokenizerFolder = options.tokenizer !== null ? resolveOptionPath({ baseDir }, options.tokenizer) : folder;
  if (tokenizerFolder === null) throw new Error('core/gpt2 with options.config needs options.tokenizer: a folder with tokenizer.json, or "byte-level"');
  return { folder, tokenizer: { kind: 'folder', folder: tokenizerFolder } };
}

/** Resolves the options into a setup (reads the checkpoint and the tokenizer's vocabulary size). */
function resolveSetup(options: Gpt2Options, numClasses: number, baseDir: string | undefined): Gpt2Setup {
  const { folder, tokenizer } = locate(options, baseDir);
  const checkpoint = folder !== null ? loadCheckpoint(folder) : undefined;
  const tokenizerSize = tokenizerVocabSize(tokenizerFiles(tokenizer).tokenizer);
  let config: Gpt2Config;
  if (checkpoint) {
    config = checkpoint.config;
  } else {
    const c = options.config!;
    if (c.dim % c.heads !== 0) throw new Error(`core/gpt2: config.dim ${c.dim} is not a multiple of config.heads ${c.heads}`);
    config = { layers: c.layers, heads: c.heads, dim: c.dim, context: c.context, vocabSize: c.vocabSize ?? tokenizerSize, inner: 4 * c.dim, epsilon: GPT2_DEFAULTS.epsilon, initStd: GPT2_DEFAULTS.initStd };
  }
  if (tokenizerSize > config.vocabSize) throw new Error(`core/gpt2: the tokenizer has ${tokenizerSize} token ids, the model's vocabulary ${config.vocabSize}`);
  if (options.maxLength > config.context) throw new Error(`core/gpt2: maxLength ${options.maxLength} exceeds the model's ${config.context} positions`);
  const trainableBlocks = options.trainable === 'all' ? config.layers : options.trainable;
  if (trainableBlocks > config.layers) throw new Error(`core/gpt2: trainable ${trainableBlocks} exceeds the model's ${config.layers} blocks`);
  const layers = gpt2Layers(config, numClasses);
  // layers: embeddings, block0 … block(n−1), head.
  const firstTrainable = options.trainable === 'all' ? 0 : 1 + config.layers - trainableBlocks;
  const tokenInputs: TokenInputs = { maxLength: options.maxLength, vocabSize: config.vocabSize, embeddingShape: [options.maxLength, config.dim] };
  return { config, numClasses, maxLength: options.maxLength, firstTrainable, layers, tokenInputs, checkpoint };
}

/**
 * Initial values of every parameter: the checkpoint's where it has them (its `score.weight` only if
 * it has as many classes), else drawn from `rng` in parameter order.
 */
function initialWeights(setup: Gpt2Setup, rng: Rng): Float32Array[] {
  return setup.layers.flatMap((layer) =>
    layer.parameters.map((parameter) => {
      const stored = setup.checkpoint?.tensors.get(parameter.name);
      if (!stored) return initialValues(parameter, rng);
      if (parameter.name !== 'score.weight') return stored.values;
      const [classes, dim] = stored.shape;
      if (classes !== setup.numClasses) return initialValues(parameter, rng);
      // HF's nn.Linear stores [classes, dim]; ours is [dim, classes].
      const transposed = new Float32Array(dim * classes);
      for (let c = 0; c < classes; c++) for (let d = 0; d < dim; d++) transposed[d * classes + c] = stored.values[c * dim + d];
      return transposed;
    }),
  );
}

const configSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  default: null,
  description: 'Build a new GPT-2 of this shape (layers, heads, dim, context, vocabSize; defaults are GPT-2 small, transformers GPT2Config), trained from scratch; used when model is null.',
  properties: {
    layers: { type: 'integer', minimum: 1, maximum: 96, default: GPT2_DEFAULTS.layers, description: 'Transformer blocks (n_layer); GPT2Config default 12.' },
    heads: { type: 'integer', minimum: 1, maximum: 128, default: GPT2_DEFAULTS.heads, description: 'Attention heads (n_head), dividing dim; GPT2Config default 12.' },
    dim: { type: 'integer', minimum: 1, maximum: 16384, default: GPT2_DEFAULTS.dim, description: 'Width of the residual stream (n_embd); GPT2Config default 768.' },
    context: { type: 'integer', minimum: 1, maximum: 65536, default: GPT2_DEFAULTS.context, description: 'Positions of the position embedding (n_positions); GPT2Config default 1024.' },
    vocabSize: { type: ['integer', 'null'], minimum: 1, default: null, description: "Token ids (vocab_size); null: the tokenizer's vocabulary size." },
  },
} as const;

/** `core/gpt2`: GPT-2 from a local checkpoint or a config, trained end to end with a classification head on the last token. */
export const gpt2Model = defineModel<Gpt2Options>({
  id: 'gpt2',
  description: 'GPT-2 trained end to end in TF.js (local Hugging Face checkpoint or a new config), classifying from the last token; input gradients and Gaussian poisons in the token embeddings.',
  references: [
    { title: 'Radford et al., Language Models are Unsupervised Multitask Learners, 2019', url: 'https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf' },
    { title: 'Hugging Face transformers, models/gpt2/modeling_gpt2.py', url: 'https://github.com/huggingface/transformers/blob/main/src/transformers/models/gpt2/modeling_gpt2.py' },
  ],
  capabilities: MODEL_CAPABILITIES,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      model: { type: ['string', 'null'], default: null, description: 'Local Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json), relative to the manifest; null: build a new model from config.' },
      config: configSchema,
      tokenizer: { type: ['string', 'null'], default: null, description: 'Folder with tokenizer.json and tokenizer_config.json (relative to the manifest), "byte-level" for GPT-2\'s 256-byte alphabet plus <|endoftext|> built in memory, or null: the model folder.' },
      maxLength: { type: 'integer', minimum: 1, maximum: 65536, default: 128, description: 'Tokens per text: longer texts keep their first maxLength tokens (truncation from the end, as transformers by default), shorter ones are padded. 128 is a cost choice, not the study\'s.' },
      trainable: {
        anyOf: [{ const: 'all' }, { type: 'integer', minimum: 0 }],
        default: 'all',
        description: '"all" trains every parameter; k trains the last k blocks, the final LayerNorm and the head (0: the head alone) and freezes the rest.',
      },
    },
  },
  createFeaturizer: async (options, ctx) => {
    const { tokenizer } = locate(options, ctx.baseDir);
    const encoder = await createTokenEncoder(tokenizerFiles(tokenizer));
    ctx.logger.info(`tokenizer ${tokenizer.kind === 'folder' ? tokenizer.folder : BYTE_LEVEL}: ${encoder.vocabSize} token ids; texts cut to ${options.maxLength} tokens`);
    return { featureShape: [tokenRowSize(options.maxLength)], featurize: (texts) => encoder.encode(texts, options.maxLength) };
  },
  create(options, shape, ctx) {
    const setup = resolveSetup(options, shape.numClasses, ctx.baseDir);
    const expected = tokenRowSize(options.maxLength);
    if (shape.inputShape.length !== 1 || shape.inputShape[0] !== expected) {
      throw new RangeError(`core/gpt2 reads token rows [${expected}] (maxLength ${options.maxLength} + noise seed and σ) made by its own featurizer, got inputs [${shape.inputShape.join(', ')}]: use a text dataset`);
    }
    const { config } = setup;
    const count = setup.layers.flatMap((l) => l.parameters).reduce((sum, p) => sum + p.shape.reduce((a, b) => a * b, 1), 0);
    ctx.logger.info(
      `GPT-2 ${setup.checkpoint ? `from ${setup.checkpoint.folder}` : 'from scratch'}: ${config.layers} blocks, ${config.heads} heads, dim ${config.dim}, ${config.vocabSize} tokens, ${count.toLocaleString('en-US')} parameters; ${options.trainable === 'all' ? 'all trainable' : `last ${options.trainable} blocks and the head trainable`}`,
    );
    return { tokenInputs: setup.tokenInputs, build: (rng) => new Gpt2Model(setup, initialWeights(setup, rng)) };
  },
});
