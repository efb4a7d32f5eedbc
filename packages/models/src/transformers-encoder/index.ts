/**
 * `transformers-encoder`: a frozen transformers.js (ONNX Runtime) text encoder with a trainable
 * TF.js head. Texts are tokenised and encoded once; the pooled hidden states (mean over the
 * attention mask, or the first token) are the head's input features, cached on disk by the hash of
 * the model files and the text, so training, retraining and unlearning cost head steps only.
 * Capabilities (parameters, layers, input-gradients) refer to the head: input gradients are taken
 * with respect to the pooled features, and feature-space attacks such as `core/gaussian` perturb
 * those features, not the texts.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defineModel, resolveOptionPath, type Featurizer, type Logger } from '@unlearn-bench/core';
import { MODEL_CAPABILITIES } from '../layers.ts';
import { mlpModel } from '../mlp/index.ts';
import { FeatureCache, hashFolder } from './feature-cache.ts';

/** Options of `transformers-encoder`. */
export interface TransformersEncoderOptions {
  /** Local model folder (config.json, tokenizer.json, onnx/model*.onnx) or a hub id (needs allowRemote). @default null */
  readonly model: string | null;
  /** Allow downloading a hub model (otherwise only local folders load). @default false */
  readonly allowRemote: boolean;
  /** `mean` over the attention mask, `cls` (the first token's hidden state) or `last` (the last unmasked token, for decoder models). @default "mean" */
  readonly pooling: 'mean' | 'cls' | 'last';
  /** ONNX Runtime device: `auto` tries CUDA and falls back to CPU. @default "auto" */
  readonly device: 'auto' | 'cpu' | 'cuda';
  /** Weights variant: fp32 loads onnx/model.onnx, q8 onnx/model_quantized.onnx, fp16 onnx/model_fp16.onnx, …. @default "fp32" */
  readonly dtype: 'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'bnb4';
  /** Texts are truncated to this many tokens. @default 256 */
  readonly maxLength: number;
  /** Texts per encoder call. @default 32 */
  readonly batchSize: number;
  /** Scale pooled features to unit L2 norm. @default false */
  readonly normalize: boolean;
  /** Widths of the head's hidden layers; [] gives a linear head. @default [] */
  readonly hidden: readonly number[];
  /** Cache features on disk. @default true */
  readonly cache: boolean;
  /** Cache folder; null: `unlearn-bench-cache/features` in the OS temp folder. @default null */
  readonly cacheDir: string | null;
}

type TransformersModule = typeof import('@huggingface/transformers');
type EncoderModel = Awaited<ReturnType<TransformersModule['AutoModel']['from_pretrained']>>;
type EncoderTokenizer = Awaited<ReturnType<TransformersModule['AutoTokenizer']['from_pretrained']>>;
type HfTensor = InstanceType<TransformersModule['Tensor']>;

let transformers: Promise<TransformersModule> | undefined;

/** transformers.js, imported on first use (it loads ONNX Runtime's native binding). */
function loadTransformers(): Promise<TransformersModule> {
  transformers ??= import('@huggingface/transformers');
  return transformers;
}

/** Where `model` points: an absolute local folder, or a hub id when `allowRemote` is set. */
export function resolveModelLocation(model: string | null, allowRemote: boolean, baseDir?: string): { readonly path: string; readonly local: boolean } {
  if (!model) throw new Error('core/transformers-encoder needs options.model: the path of a local model folder (config.json, tokenizer.json, onnx/model.onnx)');
  const folder = resolveOptionPath({ baseDir }, model);
  if (existsSync(folder) && statSync(folder).isDirectory()) {
    if (!existsSync(join(folder, 'onnx'))) throw new Error(`model folder ${folder} has no onnx/ subfolder; transformers.js loads onnx/model.onnx (fp32) or onnx/model_<dtype>.onnx`);
    return { path: folder, local: true };
  }
  if (!allowRemote) {
    throw new Error(
      `model "${model}" is not a local folder (looked for ${folder}). Download the model (config.json, tokenizer files, onnx/) into a folder and point options.model at it, or set options.allowRemote to true to let transformers.js fetch "${model}" from the Hugging Face hub`,
    );
  }
  return { path: model, local: false };
}

/** Where onnxruntime-node keeps its CUDA provider on Linux x64 (downloaded by its install script), or null on other platforms. */
function cudaProviderPath(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return null;
  const fromTransformers = createRequire(createRequire(import.meta.url).resolve('@huggingface/transformers'));
  const root = join(dirname(fromTransformers.resolve('onnxruntime-node')), '..');
  return join(root, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime_providers_cuda.so');
}

/** Loads the model on `device`; `auto` tries CUDA first and logs why it falls back to CPU. */
async function loadModel(hf: TransformersModule, path: string, options: TransformersEncoderOptions, logger: Logger): Promise<{ model: EncoderModel; device: string }> {
  const load = (device: 'cpu' | 'cuda') => hf.AutoModel.from_pretrained(path, { device, dtype: options.dtype });
  if (options.device === 'cpu') return { model: await load('cpu'), device: 'cpu' };
  if (options.device === 'cuda') {
    try {
      return { model: await load('cuda'), device: 'cuda' };
    } catch (error) {
      throw new Error(
        `device "cuda" failed: ${(error as Error).message}. onnxruntime-node needs its CUDA provider (see the models README: run its install script with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12), or use device "auto" or "cpu"`,
        { cause: error },
      );
    }
  }
  const provider = cudaProviderPath();
  if (provider && !existsSync(provider)) {
    logger.info(`onnxruntime-node has no CUDA provider (${provider} is missing: its install script did not download it; see the models README); running the encoder on CPU`);
  } else if (provider) {
    try {
      const model = await load('cuda');
      logger.info('running the encoder on CUDA');
      return { model, device: 'cuda' };
    } catch (error) {
      logger.info(`CUDA is not available (${(error as Error).message.split('\n')[0]}); running the encoder on CPU`);
    }
  } else {
    logger.info(`no CUDA provider for ${process.platform}/${process.arch}; running the encoder on CPU`);
  }
  return { model: await load('cpu'), device: 'cpu' };
}

/** Pools `[batch, sequence, hidden]` states into `[batch, hidden]` rows of `out` starting at `row`. */
function pool(states: HfTensor, mask: HfTensor, pooling: TransformersEncoderOptions['pooling'], normalize: boolean, out: Float32Array, rows: readonly number[]): void {
  const [batch, sequence, hidden] = states.dims as number[];
  const values = (states.type === 'float32' ? states : states.to('float32')).data as Float32Array;
  const maskValues = mask.data as BigInt64Array;
  for (let b = 0; b < batch; b++) {
    const target = out.subarray(rows[b] * hidden, (rows[b] + 1) * hidden);
    if (pooling === 'cls') target.set(values.subarray(b * sequence * hidden, b * sequence * hidden + hidden));
    else if (pooling === 'last') {
      let last = sequence - 1;
      while (last > 0 && maskValues[b * sequence + last] === 0n) last--;
      target.set(values.subarray((b * sequence + last) * hidden, (b * sequence + last + 1) * hidden));
    } else {
      let count = 0;
      for (let s = 0; s < sequence; s++) {
        if (maskValues[b * sequence + s] === 0n) continue;
        count++;
        const offset = (b * sequence + s) * hidden;
        for (let h = 0; h < hidden; h++) target[h] += values[offset + h];
      }
      if (count > 0) for (let h = 0; h < hidden; h++) target[h] /= count;
    }
    if (normalize) {
      const norm = Math.hypot(...target);
      if (norm > 0) for (let h = 0; h < hidden; h++) target[h] /= norm;
    }
  }
}

/** Encodes texts in batches of similar length (less padding) and returns `[texts.length, hidden]`. */
async function encode(tokenizer: EncoderTokenizer, model: EncoderModel, texts: readonly string[], hidden: number, options: TransformersEncoderOptions): Promise<Float32Array> {
  const out = new Float32Array(texts.length * hidden);
  const order = Array.from(texts.keys()).sort((a, b) => texts[a].length - texts[b].length);
  for (let start = 0; start < order.length; start += options.batchSize) {
    const rows = order.slice(start, start + options.batchSize);
    const inputs = tokenizer(rows.map((i) => texts[i]), { padding: true, truncation: true, max_length: options.maxLength });
    const outputs = (await model(inputs)) as Record<string, HfTensor>;
    const states = outputs.last_hidden_state ?? Object.values(outputs)[0];
    if (states.dims.length !== 3 || states.dims[2] !== hidden) {
      throw new Error(`the encoder returned ${Object.keys(outputs).join(', ')} of shape [${states.dims.join(', ')}]; expected last_hidden_state [batch, sequence, ${hidden}]`);
    }
    pool(states, inputs.attention_mask as HfTensor, options.pooling, options.normalize, out, rows);
  }
  return out;
}

async function createEncoderFeaturizer(options: TransformersEncoderOptions, logger: Logger, baseDir: string | undefined): Promise<Featurizer> {
  const location = resolveModelLocation(options.model, options.allowRemote, baseDir);
  const hf = await loadTransformers();
  hf.env.allowLocalModels = true;
  hf.env.allowRemoteModels = !location.local && options.allowRemote;
  const tokenizer = await hf.AutoTokenizer.from_pretrained(location.path);
  const { model, device } = await loadModel(hf, location.path, options, logger);
  const probe = (await model(tokenizer(['probe'], { padding: true, truncation: true, max_length: 8 }))) as Record<string, HfTensor>;
  const hidden = (probe.last_hidden_state ?? Object.values(probe)[0]).dims[2] as number;

  const modelHash = location.local ? hashFolder(location.path) : `hub:${location.path}`;
  const config = createHash('sha256')
    .update(JSON.stringify({ modelHash, pooling: options.pooling, dtype: options.dtype, maxLength: options.maxLength, normalize: options.normalize, hidden }))
    .digest('hex')
    .slice(0, 32);
  const cacheFile = options.cache ? join(options.cacheDir ? resolveOptionPath({ baseDir }, options.cacheDir) : join(tmpdir(), 'unlearn-bench-cache', 'features'), `${config}.bin`) : null;
  const cache = new FeatureCache(cacheFile, hidden);
  logger.info(`${location.path} on ${device} (${options.dtype}), ${hidden} features, ${options.pooling} pooling; ${cacheFile ? `cache ${cacheFile} (${cache.size} texts)` : 'no cache'}`);

  return {
    featureShape: [hidden],
    async featurize(texts) {
      const keys = texts.map((text) => FeatureCache.key(text));
      const missing = new Map<string, string>(); // key → text, each distinct uncached text once
      keys.forEach((key, i) => {
        if (!cache.get(key) && !missing.has(key)) missing.set(key, texts[i]);
      });
      if (missing.size > 0) {
        const start = performance.now();
        const values = await encode(tokenizer, model, [...missing.values()], hidden, options);
        cache.add([...missing.keys()].map((key, i) => ({ key, values: values.slice(i * hidden, (i + 1) * hidden) })));
        logger.debug(`encoded ${missing.size} texts in ${((performance.now() - start) / 1000).toFixed(1)} s (${texts.length - missing.size} from cache or repeated)`);
      }
      const out = new Float32Array(texts.length * hidden);
      keys.forEach((key, i) => out.set(cache.get(key)!, i * hidden));
      return out;
    },
    dispose() {
      void model.dispose();
    },
  };
}

/** `transformers-encoder`: frozen transformers.js ONNX encoder + trainable TF.js head. */
export const transformersEncoderModel = defineModel<TransformersEncoderOptions>({
  id: 'transformers-encoder',
  description: 'Frozen transformers.js (ONNX) text encoder from a local folder, pooled features cached on disk, with a trainable linear or MLP head (CUDA when available).',
  references: [{ title: 'Transformers.js (@huggingface/transformers)', url: 'https://huggingface.co/docs/transformers.js' }],
  capabilities: MODEL_CAPABILITIES,
  optionsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      model: { type: ['string', 'null'], default: null, description: 'Local model folder (config.json, tokenizer.json, onnx/model.onnx), relative to the manifest, or a hub id when allowRemote is true; required.' },
      allowRemote: { type: 'boolean', default: false, description: 'Allow transformers.js to download a hub model; otherwise only local folders load.' },
      pooling: { enum: ['mean', 'cls', 'last'], default: 'mean', description: 'mean: average of the hidden states over the attention mask; cls: the first token; last: the last unmasked token (decoder models).' },
      device: { enum: ['auto', 'cpu', 'cuda'], default: 'auto', description: 'ONNX Runtime device; auto tries CUDA and falls back to CPU with a logged reason.' },
      dtype: {
        enum: ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'],
        default: 'fp32',
        description: 'Weights variant: fp32 loads onnx/model.onnx, q8 onnx/model_quantized.onnx, others onnx/model_<dtype>.onnx.',
      },
      maxLength: { type: 'integer', minimum: 2, maximum: 8192, default: 256, description: 'Texts are truncated to this many tokens.' },
      batchSize: { type: 'integer', minimum: 1, maximum: 4096, default: 32, description: 'Texts per encoder call.' },
      normalize: { type: 'boolean', default: false, description: 'Scale pooled features to unit L2 norm.' },
      hidden: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 16384 },
        maxItems: 8,
        default: [],
        description: "Widths of the head's hidden layers (dense + ReLU); [] gives a linear head.",
      },
      cache: { type: 'boolean', default: true, description: 'Cache features on disk, keyed by the hash of the model files, the feature options and the text.' },
      cacheDir: { type: ['string', 'null'], default: null, description: 'Cache folder, relative to the manifest; null: unlearn-bench-cache/features in the OS temp folder.' },
    },
  },
  createFeaturizer: (options, ctx) => createEncoderFeaturizer(options, ctx.logger, ctx.baseDir),
  create: (options, shape, ctx) => mlpModel.create({ hidden: options.hidden }, shape, ctx),
});
