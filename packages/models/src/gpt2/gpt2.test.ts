import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createExamples, createRng, getOrCreateValidator, inputGradients, tokenNoise, tokenRowSize, TOKEN_PADDING } from '@unlearn-bench/core';
import { createTestContext } from '@unlearn-bench/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../engine/index.ts';
import { gpt2Layers, type Gpt2Config } from './architecture.ts';
import { gpt2Model, type Gpt2Model, type Gpt2Options } from './index.ts';
import { encodeSafetensors, parseSafetensors } from './safetensors.ts';
import { writeTinyGpt2, type TinyGpt2 } from './tiny-gpt2.ts';
import { byteAlphabet, byteLevelTokenizer, createTokenEncoder } from './tokenizer.ts';

const MERGES: [string, string][] = [
  ['Ġ', 't'],
  ['h', 'e'],
  ['Ġt', 'he'],
];

function options(overrides: Partial<Gpt2Options>): Gpt2Options {
  const filled = { ...overrides };
  if (!getOrCreateValidator(gpt2Model.optionsSchema)(filled)) throw new Error('invalid test options');
  return filled as Gpt2Options;
}

async function rowsOf(opts: Gpt2Options, texts: readonly string[]): Promise<Float32Array> {
  const featurizer = await gpt2Model.createFeaturizer!(opts, createTestContext(0));
  return featurizer.featurize(texts) as Float32Array;
}

function buildModel(opts: Gpt2Options, numClasses: number, seed = 1): Gpt2Model {
  const factory = gpt2Model.create(opts, { inputShape: [tokenRowSize(opts.maxLength)], numClasses }, createTestContext(0));
  return factory.build(createRng(seed)) as Gpt2Model;
}

// --- a plain float64 GPT-2 forward pass, written from the paper and modeling_gpt2.py -------------

type Tensors = ReadonlyMap<string, { readonly values: ArrayLike<number> }>;

function layerNormRow(x: number[], gamma: ArrayLike<number>, beta: ArrayLike<number>): number[] {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const variance = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * gamma[i] + beta[i]);
}

/** `x · W + b` with W `[in, out]` row-major. */
function affine(x: number[], w: ArrayLike<number>, b: ArrayLike<number>, out: number): number[] {
  const y = Array.from({ length: out }, (_, j) => b[j]);
  x.forEach((xi, i) => {
    for (let j = 0; j < out; j++) y[j] += xi * w[i * out + j];
  });
  return y;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Final hidden states (after ln_f) of one text's token ids; `extra` is added to the token embeddings. */
function referenceHidden(t: Tensors, config: Gpt2Config, ids: readonly number[], extra?: ArrayLike<number>): number[][] {
  const { dim, heads, layers } = config;
  const hd = dim / heads;
  const get = (name: string) => t.get(name)!.values;
  let x = ids.map((id, p) => Array.from({ length: dim }, (_, d) => get('wte.weight')[id * dim + d] + get('wpe.weight')[p * dim + d] + (extra ? extra[p * dim + d] : 0)));
  for (let l = 0; l < layers; l++) {
    const w = (name: string) => get(`h.${l}.${name}`);
    const qkv = x.map((row) => affine(layerNormRow(row, w('ln_1.weight'), w('ln_1.bias')), w('attn.c_attn.weight'), w('attn.c_attn.bias'), 3 * dim));
    const merged = x.map((_, i) => {
      const out = new Array<number>(dim).fill(0);
      for (let h = 0; h < heads; h++) {
        const q = (r: number) => qkv[r].slice(h * hd, (h + 1) * hd);
        const k = (r: number) => qkv[r].slice(dim + h * hd, dim + (h + 1) * hd);
        const v = (r: number) => qkv[r].slice(2 * dim + h * hd, 2 * dim + (h + 1) * hd);
        const scores = Array.from({ length: i + 1 }, (_, j) => q(i).reduce((s, qi, c) => s + qi * k(j)[c], 0) / Math.sqrt(hd));
        const top = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - top));
        const total = weights.reduce((a, b) => a + b, 0);
        weights.forEach((a, j) => v(j).forEach((vc, c) => (out[h * hd + c] += (a / total) * vc)));
      }
      return out;
    });
    x = x.map((row, i) => affine(merged[i], w('attn.c_proj.weight'), w('attn.c_proj.bias'), dim).map((v, d) => v + row[d]));
    x = x.map((row) => {
      const inner = affine(layerNormRow(row, w('ln_2.weight'), w('ln_2.bias')), w('mlp.c_fc.weight'), w('mlp.c_fc.bias'), 4 * dim).map(gelu);
      return affine(inner, w('mlp.c_proj.weight'), w('mlp.c_proj.bias'), dim).map((v, d) => v + row[d]);
    });
  }
  return x.map((row) => layerNormRow(row, get('ln_f.weight'), get('ln_f.bias')));
}

/** Class logits of the reference: the last token's final state times score `[dim, classes]`. */
function referenceLogits(t: Tensors, config: Gpt2Config, score: ArrayLike<number>, classes: number, ids: readonly number[], extra?: ArrayLike<number>): number[] {
  const hidden = referenceHidden(t, config, ids, extra);
  return affine(hidden[hidden.length - 1], score, new Array<number>(classes).fill(0), classes);
}

function idsOf(rows: Float32Array, maxLength: number, row: number): number[] {
  const size = tokenRowSize(maxLength);
  return Array.from(rows.subarray(row * size, row * size + maxLength)).filter((v) => v !== TOKEN_PADDING);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('gpt2', () => {
  let tiny: TinyGpt2;
  let lmTiny: TinyGpt2;
  beforeAll(async () => {
    await createEngine({ backend: 'wasm' });
    tiny = writeTinyGpt2(mkdtempSync(join(tmpdir(), 'ub-tiny-gpt2-')), { layers: 2, heads: 2, dim: 8, context: 16, merges: MERGES, std: 0.3, rng: createRng(11) });
    lmTiny = writeTinyGpt2(mkdtempSync(join(tmpdir(), 'ub-tiny-gpt2-lm-')), { layers: 1, heads: 2, dim: 8, context: 16, merges: MERGES, std: 0.3, rng: createRng(12), lmHeadLayout: true });
  });

  describe('safetensors', () => {
    it('round-trips float32 tensors and metadata, with the header padded to 8 bytes', () => {
      const tensors = new Map([
        ['a', { shape: [2, 3], values: Float32Array.of(1, 2, 3, 4, 5, -6.5) }],
        ['b.c', { shape: [1], values: Float32Array.of(0.25) }],
      ]);
      const bytes = encodeSafetensors(tensors, { format: 'pt' });
      const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect((8 + headerLength) % 8).toBe(0);
      const parsed = parseSafetensors(bytes);
      expect(parsed.metadata).toEqual({ format: 'pt' });
      expect([...parsed.tensors.keys()]).toEqual(['a', 'b.c']);
      expect(parsed.tensors.get('a')).toEqual({ dtype: 'F32', shape: [2, 3], values: Float32Array.of(1, 2, 3, 4, 5, -6.5) });
    });

    it('widens F16 and BF16 and rounds F64', () => {
      const header = JSON.stringify({ h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] }, b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] }, d: { dtype: 'F64', shape: [1], data_offsets: [10, 18] } });
      const bytes = new Uint8Array(8 + header.length + 18);
      const view = new DataView(bytes.buffer);
      view.setBigUint64(0, BigInt(header.length), true);
      bytes.set(new TextEncoder().encode(header), 8);
      const at = 8 + header.length;
      // F16: 1.0 = 0x3c00, −2.5 = 0xc100, 2⁻²⁴ (smallest subnormal) = 0x0001
      [0x3c00, 0xc100, 0x0001].forEach((bits, i) => view.setUint16(at + 2 * i, bits, true));
      // BF16: 1.0 = 0x3f80, −3.0 = 0xc040
      [0x3f80, 0xc040].forEach((bits, i) => view.setUint16(at + 6 + 2 * i, bits, true));
      view.setFloat64(at + 10, 0.1, true);
      const parsed = parseSafetensors(bytes);
      expect(Array.from(parsed.tensors.get('h')!.values)).toEqual([1, -2.5, Math.fround(2 ** -24)]);
      expect(Array.from(parsed.tensors.get('b')!.values)).toEqual([1, -3]);
      expect(parsed.tensors.get('d')!.values[0]).toBe(Math.fround(0.1));
    });

    it('refuses malformed files with the reason', () => {
      const make = (header: object, dataBytes: number) => {
        const json = JSON.stringify(header);
        const bytes = new Uint8Array(8 + json.length + dataBytes);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
        bytes.set(new TextEncoder().encode(json), 8);
        return bytes;
      };
      expect(() => parseSafetensors(Uint8Array.of(1, 2, 3), 'x.safetensors')).toThrowErrorMatchingInlineSnapshot(`[Error: x.safetensors is not a valid safetensors file: 3 bytes, shorter than the 8-byte header length]`);
      expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8))).toThrowErrorMatchingInlineSnapshot(`[Error: safetensors data is not a valid safetensors file: tensor b overlaps the tensor before it]`);
      expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8))).toThrowErrorMatchingInlineSnapshot(`[Error: safetensors data is not a valid safetensors file: tensor a [3] F32 needs 12 bytes, its range has 8]`);
      expect(() => parseSafetensors(make({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8))).toThrowErrorMatchingInlineSnapshot(`[Error: safetensors data is not a valid safetensors file: tensor a has dtype I64; only F32, F16, BF16 and F64 are read (float32 weights)]`);
      expect(() => parseSafetensors(make({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8))).toThrowErrorMatchingInlineSnapshot(`[Error: safetensors data is not a valid safetensors file: 4 bytes after the last tensor]`);
    });
  });

  describe('tokenizer', () => {
    it("has GPT-2's byte alphabet: printable bytes first, id 0 '!', the space as 'Ġ' (id 220)", () => {
      const alphabet = byteAlphabet();
      expect(alphabet).toHaveLength(256);
      expect(new Set(alphabet).size).toBe(256);
      expect(alphabet[0]).toBe('!');
      expect(alphabet.indexOf('Ġ')).toBe(220);
      expect(alphabet.indexOf('Ċ')).toBe(198); // the newline, as in GPT-2's vocabulary
    });

    it('encodes with byte-level BPE through transformers.js: merges by rank, truncation, padding, empty text as <|endoftext|>', async () => {
      const encoder = await createTokenEncoder(byteLevelTokenizer(MERGES));
      expect(encoder.vocabSize).toBe(256 + 3 + 1);
      // "the cat the": "the" → t + he (no leading space), " cat" → Ġ c a t, " the" → Ġthe
      const t = 83;
      const he = 257;
      const space = 220;
      const rows = encoder.encode(['the cat the', 'the cat the', ''], 8);
      expect(Array.from(rows.subarray(0, 10))).toEqual([t, he, space, 66, 64, t, 258, -1, 0, 0]);
      expect(Array.from(encoder.encode(['the cat the'], 4))).toEqual([t, he, space, 66, 0, 0]);
      expect(Array.from(rows.subarray(20, 30))).toEqual([259, -1, -1, -1, -1, -1, -1, -1, 0, 0]);
    });
  });

  describe('checkpoint', () => {
    it('gives the class and language-model logits of a plain float64 reference forward pass of the same weights (float32 tolerance)', async () => {
      const opts = options({ model: tiny.folder, maxLength: 12 });
      const texts = ['the cat the', 'a', 'the the the hat', 'xy z'];
      const rows = await rowsOf(opts, texts);
      const model = buildModel(opts, 3);
      const score = model.parameters().at(-1)!.dataSync();
      const x = tf.tensor2d(rows, [texts.length, tokenRowSize(12)]);
      const logits = model.logits(x);
      const lm = model.languageModelLogits(x);
      const got = logits.arraySync();
      const lmValues = lm.arraySync();
      tf.dispose([x, logits, lm]);
      let worst = 0;
      let scale = 0;
      texts.forEach((_, i) => {
        const ids = idsOf(rows, 12, i);
        const expected = referenceLogits(tiny.tensors, tiny.config, score, 3, ids);
        worst = Math.max(worst, maxAbsDiff(got[i], expected));
        scale = Math.max(scale, ...expected.map(Math.abs));
        const hidden = referenceHidden(tiny.tensors, tiny.config, ids);
        hidden.forEach((state, p) => {
          const expectedLm = Array.from({ length: tiny.config.vocabSize }, (_, v) => state.reduce((s, h, d) => s + h * tiny.tensors.get('wte.weight')!.values[v * 8 + d], 0));
          worst = Math.max(worst, maxAbsDiff(lmValues[i][p], expectedLm));
        });
      });
      expect(scale).toBeGreaterThan(0.1);
      expect(worst).toBeLessThan(2e-5 * Math.max(1, scale));
      model.dispose();
    });

    it("reads GPT2LMHeadModel's layout (transformer. prefix, lm_head.weight, causal-mask buffers)", async () => {
      const opts = options({ model: lmTiny.folder, maxLength: 6 });
      const rows = await rowsOf(opts, ['the hat']);
      const model = buildModel(opts, 2);
      const score = model.parameters().at(-1)!.dataSync();
      const x = tf.tensor2d(rows, [1, tokenRowSize(6)]);
      const logits = model.logits(x);
      expect(maxAbsDiff(logits.dataSync(), referenceLogits(lmTiny.tensors, lmTiny.config, score, 2, idsOf(rows, 6, 0)))).toBeLessThan(2e-5);
      tf.dispose([x, logits]);
      model.dispose();
    });

    it('loads a classification checkpoint\'s score.weight ([classes, dim], transposed) when the class count matches', () => {
      const folder = mkdtempSync(join(tmpdir(), 'ub-tiny-gpt2-score-'));
      const written = writeTinyGpt2(folder, { layers: 1, heads: 1, dim: 4, context: 8, std: 0.2, rng: createRng(3) });
      const score = Float32Array.from({ length: 2 * 4 }, (_, i) => i);
      writeFileSync(join(folder, 'model.safetensors'), encodeSafetensors(new Map([...written.tensors, ['score.weight', { shape: [2, 4], values: score }]])));
      const model = buildModel(options({ model: folder, maxLength: 4 }), 2);
      expect(Array.from(model.parameters().at(-1)!.dataSync())).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
      model.dispose();
      const other = buildModel(options({ model: folder, maxLength: 4 }), 3);
      expect(other.parameters().at(-1)!.shape).toEqual([4, 3]);
      other.dispose();
    });

    it('explains what is missing or inconsistent', () => {
      const empty = mkdtempSync(join(tmpdir(), 'ub-gpt2-empty-'));
      const create = (o: Partial<Gpt2Options>, inputShape = [tokenRowSize(o.maxLength ?? 128)]) => () => {
        try {
          gpt2Model.create(options(o), { inputShape, numClasses: 2 }, createTestContext(0));
        } catch (error) {
          throw new Error((error as Error).message.replaceAll(empty, '<empty>').replaceAll(tiny.folder, '<tiny>'));
        }
      };
      expect(create({ model: empty })).toThrowErrorMatchingInlineSnapshot(`[Error: <empty> has no config.json. core/gpt2 loads a Hugging Face GPT-2 checkpoint folder: config.json, model.safetensors, tokenizer.json and tokenizer_config.json (download them from the hub's gpt2 repository; a PyTorch pytorch_model.bin can be converted with transformers' save_pretrained(folder, safe_serialization=True))]`);
      expect(create({})).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2 needs options.model, a local Hugging Face GPT-2 checkpoint folder (config.json, model.safetensors, tokenizer.json), or options.config to build a new model, e.g. { "layers": 2, "heads": 2, "dim": 64, "context": 128 } with "tokenizer": "byte-level"]`);
      expect(create({ config: { layers: 1, heads: 3, dim: 8, context: 8, vocabSize: null }, tokenizer: 'byte-level', maxLength: 8 })).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2: config.dim 8 is not a multiple of config.heads 3]`);
      expect(create({ model: tiny.folder, maxLength: 17 })).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2: maxLength 17 exceeds the model's 16 positions]`);
      expect(create({ model: tiny.folder, maxLength: 8, trainable: 3 })).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2: trainable 3 exceeds the model's 2 blocks]`);
      expect(create({ model: tiny.folder, maxLength: 8 }, [8])).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2 reads token rows [10] (maxLength 8 + noise seed and σ) made by its own featurizer, got inputs [8]: use a text dataset]`);
      expect(create({ config: { layers: 1, heads: 1, dim: 8, context: 8, vocabSize: null }, maxLength: 8 })).toThrowErrorMatchingInlineSnapshot(`[Error: core/gpt2 with options.config needs options.tokenizer: a folder with tokenizer.json, or "byte-level"]`);
    });
  });

  describe('gradients', () => {
    it('match central finite differences of the float64 reference: block parameters and the input embeddings', async () => {
      const opts = options({ model: tiny.folder, maxLength: 8 });
      const texts = ['the cat', 'he the hat'];
      const rows = await rowsOf(opts, texts);
      const model = buildModel(opts, 2);
      const score = model.parameters().at(-1)!.dataSync();
      const labels = [1, 0];
      const names = model.parameters().map((p) => p.name.split('/')[1]);
      const loss = (t: Tensors, extra?: (row: number) => ArrayLike<number> | undefined) =>
        texts.reduce((sum, _, i) => {
          const z = referenceLogits(t, tiny.config, score, 2, idsOf(rows, 8, i), extra?.(i));
          const top = Math.max(...z);
          return sum + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0)) + top - z[labels[i]];
        }, 0);
      const x = tf.tensor2d(rows, [2, tokenRowSize(8)]);
      const y = tf.tensor1d(labels, 'int32');
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 2), model.logits(x), undefined, undefined, tf.Reduction.SUM) as tf.Scalar, model.parameters() as tf.Variable[]);
      const probes = ['h.0.attn.c_attn.weight', 'h.0.attn.c_attn.bias', 'h.1.mlp.c_fc.weight', 'h.1.ln_2.weight', 'h.0.attn.c_proj.weight', 'wpe.weight', 'wte.weight', 'ln_f.bias'];
      const h = 1e-5;
      for (const name of probes) {
        const variable = model.parameters()[names.indexOf(name)];
        const analytic = grads[variable.name].dataSync();
        const base = tiny.tensors.get(name)!.values;
        // Three entries per tensor: the largest analytic gradient and two others.
        let largest = 0;
        analytic.forEach((v, i) => (largest = Math.abs(v) > Math.abs(analytic[largest]) ? i : largest));
        for (const index of [largest, 1, Math.floor(base.length / 2)]) {
          const shifted = (delta: number) => {
            const values = Float64Array.from(base);
            values[index] += delta;
            const map = new Map<string, { values: ArrayLike<number> }>(tiny.tensors);
            return map.set(name, { values });
          };
          const numeric = (loss(shifted(h)) - loss(shifted(-h))) / (2 * h);
          expect(Math.abs(analytic[index] - numeric), `${name}[${index}]: ${analytic[index]} vs ${numeric}`).toBeLessThan(1e-4 + 1e-3 * Math.abs(numeric));
        }
      }
      // Input gradients (core's inputGradients: with respect to the token embeddings).
      const gradient = inputGradients(model, createExamples(rows, Int32Array.from(labels), [tokenRowSize(8)]), 2);
      expect(gradient).toHaveLength(2 * 8 * 8);
      for (const [row, index] of [
        [0, 3],
        [1, 9],
        [1, 35],
      ]) {
        const extra = (delta: number) => (r: number) => (r === row ? Float64Array.from({ length: 64 }, (_, i) => (i === index ? delta : 0)) : undefined);
        const numeric = (loss(tiny.tensors, extra(h)) - loss(tiny.tensors, extra(-h))) / (2 * h);
        expect(Math.abs(gradient[row * 64 + index] - numeric)).toBeLessThan(1e-4 + 1e-3 * Math.abs(numeric));
      }
      // Positions after a text's end get exactly zero gradient ('the cat': t he Ġ c a t, 6 tokens).
      expect(idsOf(rows, 8, 0)).toHaveLength(6);
      expect(gradient.subarray(6 * 8, 8 * 8).every((v) => v === 0)).toBe(true);
      expect(gradient.subarray(5 * 8, 6 * 8).some((v) => v !== 0)).toBe(true);
      tf.dispose([x, y, ...Object.values(grads)]);
      model.dispose();
    });
  });

  describe('token inputs', () => {
    const scratch = options({ config: { layers: 2, heads: 2, dim: 16, context: 16, vocabSize: null }, tokenizer: 'byte-level', maxLength: 10 });

    it('adds the Gaussian noise a row carries to its token embeddings, and logits(x, { embeddings: embed(x) }) = logits(x)', async () => {
      const rows = await rowsOf(scratch, ['hello', 'hello']);
      rows[tokenRowSize(10) + 10] = 77; // seed of the second row
      rows[tokenRowSize(10) + 11] = 0.5; // σ
      const model = buildModel(scratch, 2);
      const before = tf.memory().numTensors;
      const x = tf.tensor2d(rows, [2, tokenRowSize(10)]);
      const embedded = model.embed(x);
      const values = embedded.arraySync();
      const noise = tokenNoise(77, 0.5, 10 * 16);
      const difference = values[1].flat().map((v, i) => v - values[0].flat()[i]);
      expect(maxAbsDiff(difference, noise)).toBeLessThan(1e-6);
      const direct = model.logits(x);
      const through = model.logits(x, { embeddings: embedded });
      expect(Array.from(through.dataSync())).toEqual(Array.from(direct.dataSync()));
      expect(direct.dataSync()[0]).not.toBeCloseTo(direct.dataSync()[2], 6);
      tf.dispose([x, embedded, direct, through]);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });

    it("gives a text the same logits alone and padded in a batch with longer texts", async () => {
      const texts = ['short', 'a much longer text than that', 'mid length'];
      const rows = await rowsOf(scratch, texts);
      const model = buildModel(scratch, 3);
      const all = tf.tidy(() => model.logits(tf.tensor2d(rows, [3, tokenRowSize(10)])).arraySync());
      texts.forEach((_, i) => {
        const alone = tf.tidy(() => model.logits(tf.tensor2d(rows.subarray(i * 12, (i + 1) * 12), [1, 12])).arraySync()[0]);
        expect(maxAbsDiff(alone, all[i])).toBeLessThan(1e-5);
      });
      model.dispose();
    });

    it('refuses rows that are not token rows', () => {
      const model = buildModel(scratch, 2);
      const run = (values: number[]) => () => tf.tidy(() => model.logits(tf.tensor2d(values, [1, 12])));
      expect(run([300, ...new Array(9).fill(-1), 0, 0])).toThrowErrorMatchingInlineSnapshot(`[RangeError: core/gpt2: row 0 has token id 300 at position 0; ids are integers in 0..256, then -1 as padding]`);
      expect(run([-1, ...new Array(9).fill(-1), 0, 0])).toThrowErrorMatchingInlineSnapshot(`[RangeError: core/gpt2: row 0 has no token (its first value is the padding -1)]`);
      expect(run([1, -1, 5, ...new Array(7).fill(-1), 0, 0])).toThrowErrorMatchingInlineSnapshot(`[RangeError: core/gpt2: row 0 has token 5 at position 2 after padding at 1]`);
      model.dispose();
    });
  });

  describe('trainable', () => {
    it('trains the last k blocks and the head; the rest is frozen state that clones and getWeights carry', () => {
      const opts = options({ model: tiny.folder, maxLength: 6, trainable: 1 });
      const model = buildModel(opts, 2);
      expect(model.layers().map((l) => l.name)).toEqual(['block1', 'head']);
      expect(model.parameters()).toHaveLength(12 + 3);
      expect(model.buffers()).toHaveLength(2 + 12);
      expect(model.parameters().every((p) => p.trainable) && model.buffers().every((p) => !p.trainable)).toBe(true);
      const copy = model.clone();
      expect(copy.getWeights()).toEqual(model.getWeights());
      const weights = model.getWeights();
      expect(weights).toHaveLength(29);
      expect(Array.from(weights[15])).toEqual(Array.from(tiny.tensors.get('wte.weight')!.values));
      copy.dispose();
      model.dispose();
      const head = buildModel(options({ model: tiny.folder, maxLength: 6, trainable: 0 }), 2);
      expect(head.layers().map((l) => l.name)).toEqual(['head']);
      head.dispose();
      const all = buildModel(options({ model: tiny.folder, maxLength: 6 }), 2);
      expect(all.layers().map((l) => l.name)).toEqual(['embeddings', 'block0', 'block1', 'head']);
      expect(all.buffers()).toHaveLength(0);
      all.dispose();
    });

    it("has GPT-2 small's published size: 124,439,808 parameters besides the classifier", () => {
      const config = { layers: 12, heads: 12, dim: 768, context: 1024, vocabSize: 50257, inner: 3072, epsilon: 1e-5, initStd: 0.02 };
      const sizes = gpt2Layers(config, 2).flatMap((layer) => layer.parameters.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)] as const));
      expect(sizes.filter(([name]) => name !== 'score.weight').reduce((sum, [, size]) => sum + size, 0)).toBe(124_439_808);
    });

    it('draws a new model as GPT-2 initialises one: N(0, 0.02²) weights, residual projections N(0, (0.02/√(2·layers))²), LayerNorm 1 and 0', () => {
      const model = buildModel(options({ config: { layers: 4, heads: 2, dim: 64, context: 32, vocabSize: null }, tokenizer: 'byte-level', maxLength: 8 }), 2);
      const byName = new Map(model.parameters().map((p) => [p.name.split('/')[1], p.dataSync()]));
      const std = (values: ArrayLike<number>) => Math.sqrt(Array.from(values).reduce((a, b) => a + b * b, 0) / values.length);
      expect(byName.get('wte.weight')!.length).toBe(257 * 64);
      expect(std(byName.get('wte.weight')!)).toBeCloseTo(0.02, 3);
      expect(std(byName.get('h.0.mlp.c_fc.weight')!)).toBeCloseTo(0.02, 3);
      expect(std(byName.get('h.3.mlp.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
      expect(std(byName.get('h.2.attn.c_proj.weight')!)).toBeCloseTo(0.02 / Math.sqrt(8), 3);
      expect(Array.from(byName.get('h.1.ln_1.weight')!).every((v) => v === 1)).toBe(true);
      expect(Array.from(byName.get('h.1.attn.c_attn.bias')!).every((v) => v === 0)).toBe(true);
      model.dispose();
    });
  });
});
