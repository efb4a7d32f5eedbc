/**
 * Writes a tiny BERT-style encoder that transformers.js can load from a local folder: a WordPiece
 * tokenizer (`tokenizer.json`, `tokenizer_config.json`), `config.json` and `onnx/model.onnx`. The
 * ONNX graph is Gather (token embedding) → × attention mask → MatMul + Add → Tanh, giving
 * `last_hidden_state` `[batch, sequence, hidden]`. The protobuf is encoded here by hand (a few
 * message types of onnx.proto), so tests need no model download and no extra package.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from '@unlearn-bench/core';

/** Options of `writeTinyEncoder`. */
export interface TinyEncoderOptions {
  /** Words of the vocabulary besides the special tokens. */
  readonly words: readonly string[];
  /** Width of the hidden state. */
  readonly hidden: number;
  /** Draws the embedding and projection weights. */
  readonly rng: Rng;
}

// --- protobuf wire format ---------------------------------------------------------------------

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

type Field = number[];
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, value: number): Field => [...tag(field, 0), ...varint(value)];
const bytes = (field: number, data: Uint8Array | number[]): Field => [...tag(field, 2), ...varint(data.length), ...data];
const str = (field: number, text: string): Field => bytes(field, [...new TextEncoder().encode(text)]);
const msg = (field: number, ...fields: Field[]): Field => bytes(field, fields.flat());

// --- onnx.proto messages (field numbers from onnx/onnx.proto) -------------------------------------

const FLOAT = 1;
const INT64 = 7;

function tensor(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): Field {
  return msg(5, ...dims.map((d) => int(1, d)), int(2, dataType), str(8, name), bytes(9, raw)); // GraphProto.initializer
}

function valueInfo(field: number, name: string, elemType: number, dims: readonly (number | string)[]): Field {
  const shape = dims.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return msg(field, str(1, name), msg(2, msg(1, int(1, elemType), msg(2, ...shape))));
}

function node(opType: string, inputs: readonly string[], outputs: readonly string[], ...attributes: Field[]): Field {
  return msg(1, ...inputs.map((i) => str(1, i)), ...outputs.map((o) => str(2, o)), str(3, `${opType}_${outputs[0]}`), str(4, opType), ...attributes);
}

const intAttribute = (name: string, value: number): Field => msg(5, str(1, name), int(3, value), int(20, 2));

/** The ONNX model bytes: embedding `[vocab, hidden]`, projection `[hidden, hidden]`, bias `[hidden]`. */
export function tinyEncoderOnnx(embedding: Float32Array, projection: Float32Array, bias: Float32Array, vocab: number, hidden: number): Uint8Array {
  const raw = (values: Float32Array | BigInt64Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const graph = [
    node('Gather', ['embedding', 'input_ids'], ['embedded']),
    node('Cast', ['attention_mask'], ['mask'], intAttribute('to', FLOAT)),
    node('Unsqueeze', ['mask', 'last_axis'], ['mask3']),
    node('Mul', ['embedded', 'mask3'], ['masked']),
    node('MatMul', ['masked', 'projection'], ['projected']),
    node('Add', ['projected', 'bias'], ['shifted']),
    node('Tanh', ['shifted'], ['last_hidden_state']),
    str(2, 'tiny-encoder'),
    tensor('embedding', [vocab, hidden], FLOAT, raw(embedding)),
    tensor('projection', [hidden, hidden], FLOAT, raw(projection)),
    tensor('bias', [hidden], FLOAT, raw(bias)),
    tensor('last_axis', [1], INT64, raw(BigInt64Array.of(2n))),
    valueInfo(11, 'input_ids', INT64, ['batch', 'sequence']),
    valueInfo(11, 'attention_mask', INT64, ['batch', 'sequence']),
    valueInfo(12, 'last_hidden_state', FLOAT, ['batch', 'sequence', hidden]),
  ].flat();
  return Uint8Array.from([...int(1, 8), ...str(2, 'unlearn-bench'), ...bytes(7, graph), ...msg(8, str(1, ''), int(2, 13))]);
}

/** Writes the tiny encoder into `folder` (created if missing) and returns `folder`. */
export function writeTinyEncoder(folder: string, options: TinyEncoderOptions): string {
  const { words, hidden, rng } = options;
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const vocabulary = [...specials, ...words];
  const vocab = Object.fromEntries(vocabulary.map((token, i) => [token, i]));
  const embedding = Float32Array.from(rng.normalArray(vocabulary.length * hidden, 1));
  const projection = Float32Array.from(rng.normalArray(hidden * hidden, 1 / Math.sqrt(hidden)));
  const bias = new Float32Array(hidden);
  mkdirSync(join(folder, 'onnx'), { recursive: true });
  writeFileSync(join(folder, 'onnx', 'model.onnx'), tinyEncoderOnnx(embedding, projection, bias, vocabulary.length, hidden));
  const special = (content: string) => ({ id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map(special),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab[t]], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(
    join(folder, 'tokenizer_config.json'),
    JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 512, pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]' }),
  );
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: hidden, vocab_size: vocabulary.length, max_position_embeddings: 512 }));
  return folder;
}
