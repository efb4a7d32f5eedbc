/**
 * GPT-2's tokenizer through transformers.js (`@huggingface/transformers`): a local folder's
 * `tokenizer.json` + `tokenizer_config.json` (what a Hugging Face GPT-2 checkpoint folder holds), or
 * `byte-level`, GPT-2's byte alphabet without merges, built in memory (no file, any text). Texts
 * become token input rows (`TokenInputs`): ids, padding, then the noise seed and σ (0, 0).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKEN_PADDING, tokenRowSize } from '@unlearn-bench/core';

/** The `tokenizer` option value that selects the in-memory byte-level tokenizer. */
export const BYTE_LEVEL = 'byte-level';

/** GPT-2's end-of-text token, its only special token. */
export const END_OF_TEXT = '<|endoftext|>';

type TransformersModule = typeof import('@huggingface/transformers');
let transformers: Promise<TransformersModule> | undefined;

/** transformers.js, imported on first use. */
function loadTransformers(): Promise<TransformersModule> {
  transformers ??= import('@huggingface/transformers');
  return transformers;
}

/**
 * GPT-2's reversible map from bytes to printable characters (`bytes_to_unicode` in openai/gpt-2
 * src/encoder.py, kept by Hugging Face's byte-level BPE): the printable bytes stand for themselves,
 * the other 68 are shifted to U+0100 onwards. Entry i is the character of the i-th token of GPT-2's
 * vocabulary, so ids 0..255 follow this order (id 0 is `!`).
 */
export function byteAlphabet(): string[] {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCodePoint(b));
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    if (bytes.includes(b)) continue;
    bytes.push(b);
    chars.push(String.fromCodePoint(256 + shifted++));
  }
  return chars;
}

/** The two files of a GPT-2-style byte-level BPE tokenizer: `tokenizer.json` and `tokenizer_config.json` contents. */
export interface TokenizerFiles {
  readonly tokenizer: Record<string, unknown>;
  readonly config: Record<string, unknown>;
}

/**
 * A GPT-2-style tokenizer (the layout of Hugging Face's `gpt2` tokenizer.json: ByteLevel
 * pre-tokenizer with GPT-2's split pattern, BPE over the byte alphabet, `<|endoftext|>` last) with
 * the byte alphabet as ids 0..255, then one token per merge in order, then `<|endoftext|>`. With no
 * merges every byte is a token.
 */
export function byteLevelTokenizer(merges: readonly (readonly [string, string])[] = []): TokenizerFiles {
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((char, id) => (vocab[char] = id));
  for (const [a, b] of merges) {
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge "${a} ${b}" joins a token that is not in the vocabulary yet`);
    vocab[a + b] ??= Object.keys(vocab).length;
  }
  const endOfText = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    tokenizer: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [{ id: endOfText, content: END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
    },
    config: { tokenizer_class: 'GPT2Tokenizer', add_prefix_space: false, bos_token: END_OF_TEXT, eos_token: END_OF_TEXT, unk_token: END_OF_TEXT, model_max_length: 1024 },
  };
}

/** Number of token ids a tokenizer.json can produce (largest id of its vocabulary and added tokens, plus one). */
export function tokenizerVocabSize(tokenizer: Record<string, unknown>): number {
  const model = tokenizer.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
  const vocab = model?.vocab ?? {};
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab);
  for (const added of (tokenizer.added_tokens ?? []) as { id: number }[]) ids.push(added.id);
  return ids.reduce((a, b) => Math.max(a, b), -1) + 1;
}

/** Where a tokenizer comes from: the byte-level one, or a folder with `tokenizer.json` (absolute path). */
export type TokenizerSource = { readonly kind: 'byte-level' } | { readonly kind: 'folder'; readonly folder: string };

/** The files of `source` (read synchronously: model factories need the vocabulary size when created). */
export function tokenizerFiles(source: TokenizerSource): TokenizerFiles {
  if (source.kind === 'byte-level') return byteLevelTokenizer();
  const file = join(source.folder, 'tokenizer.json');
  if (!existsSync(file)) {
    throw new Error(`${source.folder} has no tokenizer.json. transformers.js reads a Hugging Face tokenizer from tokenizer.json and tokenizer_config.json (the gpt2 checkpoint folder on the hub has both); or set options.tokenizer to "byte-level"`);
  }
  const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(source.folder, name), 'utf8')) as Record<string, unknown>;
  return { tokenizer: read('tokenizer.json'), config: existsSync(join(source.folder, 'tokenizer_config.json')) ? read('tokenizer_config.json') : {} };
}

/** Turns texts into token input rows of `maxLength` ids (truncated from the right, as Hugging Face's default). */
export interface TokenEncoder {
  readonly vocabSize: number;
  encode(texts: readonly string[], maxLength: number): Float32Array;
}

/**
 * A transformers.js GPT2Tokenizer over `files`. A text with no tokens (the empty string) becomes the
 * end-of-text token alone, so every row has a last token to classify from.
 */
export async function createTokenEncoder(files: TokenizerFiles): Promise<TokenEncoder> {
  const hf = await loadTransformers();
  const tokenizer = new hf.GPT2Tokenizer(files.tokenizer, files.config);
  const vocabSize = tokenizerVocabSize(files.tokenizer);
  const fallback = tokenizer.eos_token_id ?? tokenizer.unk_token_id;
  return {
    vocabSize,
    encode(texts, maxLength) {
      const rowSize = tokenRowSize(maxLength);
      const rows = new Float32Array(texts.length * rowSize);
      texts.forEach((text, row) => {
        let ids = tokenizer.encode(text);
        if (ids.length === 0) {
          if (fallback === undefined || fallback === null) throw new Error('the tokenizer gave no token for an empty text and has no eos or unk token to stand for it');
          ids = [fallback];
        }
        const out = rows.subarray(row * rowSize, (row + 1) * rowSize);
        out.fill(TOKEN_PADDING, 0, maxLength);
        for (let t = 0; t < Math.min(maxLength, ids.length); t++) out[t] = ids[t];
      });
      return rows;
    },
  };
}
