/**
 * Hugging Face GPT-2 checkpoints from a local folder: `config.json` (transformers' GPT2Config) and
 * `model.safetensors`, as the hub's `gpt2` (`openai-community/gpt2`) ships them or as
 * `save_pretrained` writes a GPT2Model, GPT2LMHeadModel or GPT2ForSequenceClassification (whose
 * names carry a `transformer.` prefix). The attention-mask buffers some checkpoints store
 * (`attn.bias`, `attn.masked_bias`) and the tied `lm_head.weight` are not parameters and are skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GPT2_DEFAULTS, gpt2Layers, type Gpt2Config } from './architecture.ts';
import { readSafetensors } from './safetensors.ts';

/** A checkpoint: its configuration and every tensor it holds, by HF name (`transformer.` removed). */
export interface Gpt2Checkpoint {
  readonly folder: string;
  readonly config: Gpt2Config;
  readonly tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly values: Float32Array }>;
}

/** GPT2Config fields read from config.json (snake_case, as transformers writes them). */
interface ConfigJson {
  readonly model_type?: string;
  readonly n_layer?: number;
  readonly n_head?: number;
  readonly n_embd?: number;
  readonly n_positions?: number;
  readonly n_ctx?: number;
  readonly vocab_size?: number;
  readonly n_inner?: number | null;
  readonly layer_norm_epsilon?: number;
  readonly initializer_range?: number;
  readonly activation_function?: string;
  readonly scale_attn_weights?: boolean;
  readonly scale_attn_by_inverse_layer_idx?: boolean;
}

/** The activations that are GPT-2's tanh-approximated GELU in transformers (`ACT2FN`). */
const TANH_GELU = new Set(['gelu_new', 'gelu_pytorch_tanh']);

/** A GPT-2 configuration from config.json; fields left out take GPT2Config's defaults. */
export function parseGpt2Config(json: ConfigJson, source: string): Gpt2Config {
  if (json.model_type !== undefined && json.model_type !== 'gpt2') throw new Error(`${source}: model_type is "${json.model_type}"; core/gpt2 reads GPT-2 checkpoints (model_type "gpt2")`);
  const activation = json.activation_function ?? 'gelu_new';
  if (!TANH_GELU.has(activation)) throw new Error(`${source}: activation_function "${activation}" is not supported; core/gpt2 implements GPT-2's gelu_new (tanh approximation)`);
  if (json.scale_attn_weights === false) throw new Error(`${source}: scale_attn_weights false is not supported (GPT-2 scales attention scores by 1/√head_dim)`);
  if (json.scale_attn_by_inverse_layer_idx === true) throw new Error(`${source}: scale_attn_by_inverse_layer_idx true is not supported`);
  const dim = json.n_embd ?? GPT2_DEFAULTS.dim;
  const heads = json.n_head ?? GPT2_DEFAULTS.heads;
  if (dim % heads !== 0) throw new Error(`${source}: n_embd ${dim} is not a multiple of n_head ${heads}`);
  return {
    layers: json.n_layer ?? GPT2_DEFAULTS.layers,
    heads,
    dim,
    context: json.n_positions ?? json.n_ctx ?? GPT2_DEFAULTS.context,
    vocabSize: json.vocab_size ?? GPT2_DEFAULTS.vocabSize,
    inner: json.n_inner ?? 4 * dim,
    epsilon: json.layer_norm_epsilon ?? GPT2_DEFAULTS.epsilon,
    initStd: json.initializer_range ?? GPT2_DEFAULTS.initStd,
  };
}

/** Reads the checkpoint in `folder` and checks that it holds every GPT-2 parameter with its shape. */
export function readGpt2Checkpoint(folder: string): Gpt2Checkpoint {
  const configFile = join(folder, 'config.json');
  const weightsFile = join(folder, 'model.safetensors');
  for (const file of [configFile, weightsFile]) {
    if (!existsSync(file)) {
      throw new Error(
        `${folder} has no ${file.slice(folder.length + 1)}. core/gpt2 loads a Hugging Face GPT-2 checkpoint folder: config.json, model.safetensors, tokenizer.json and tokenizer_config.json (download them from the hub's gpt2 repository; a PyTorch pytorch_model.bin can be converted with transformers' save_pretrained(folder, safe_serialization=True))`,
      );
    }
  }
  const config = parseGpt2Config(JSON.parse(readFileSync(configFile, 'utf8')) as ConfigJson, configFile);
  const raw = readSafetensors(weightsFile);
  const tensors = new Map<string, { shape: readonly number[]; values: Float32Array }>();
  for (const [name, tensor] of raw.tensors) {
    const key = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    if (/\.attn\.(masked_)?bias$/.test(key) && tensor.shape.length !== 1) continue; // causal-mask buffers of older checkpoints
    if (key === 'lm_head.weight') continue; // tied to wte
    tensors.set(key, tensor);
  }
  const expected = gpt2Layers(config, 1).flatMap((layer) => layer.parameters).filter((p) => p.name !== 'score.weight');
  const missing = expected.filter((p) => !tensors.has(p.name)).map((p) => p.name);
  if (missing.length > 0) throw new Error(`${weightsFile} lacks ${missing.length} GPT-2 tensors: ${missing.slice(0, 6).join(', ')}${missing.length > 6 ? ', …' : ''}`);
  for (const p of expected) {
    const shape = tensors.get(p.name)!.shape;
    if (shape.join('x') !== p.shape.join('x')) throw new Error(`${weightsFile}: ${p.name} has shape [${shape.join(', ')}], config.json implies [${p.shape.join(', ')}]`);
  }
  return { folder, config, tensors };
}
