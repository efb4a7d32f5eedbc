import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBudgetMeter, createRng, getOrCreateValidator, silentLogger, type Logger, type PluginContext } from '@unlearn-bench/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../engine/index.ts';
import { transformersEncoderModel, type TransformersEncoderOptions } from './index.ts';
import { writeTinyEncoder } from './tiny-encoder.ts';

const WORDS = ['good', 'great', 'bad', 'awful', 'movie', 'plot'];
const HIDDEN = 8;
const SEED = 7;

function recordingContext(): { ctx: PluginContext; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = { ...silentLogger, info: (m) => lines.push(m), debug: (m) => lines.push(m) };
  return { ctx: { rng: createRng(0), logger, engine: { backend: 'cpu', reason: 'test', threads: 1 }, meter: createBudgetMeter() }, lines };
}

function options(overrides: Partial<TransformersEncoderOptions>): TransformersEncoderOptions {
  const filled = { ...overrides };
  getOrCreateValidator(transformersEncoderModel.optionsSchema)(filled);
  return filled as TransformersEncoderOptions;
}

/** Hidden states of the tiny encoder computed in plain JS: tanh(E[id] · W) per token. */
function reference(ids: readonly number[], pooling: 'mean' | 'cls' | 'last'): number[] {
  const rng = createRng(SEED);
  const vocab = WORDS.length + 5;
  const embedding = rng.normalArray(vocab * HIDDEN, 1);
  const projection = rng.normalArray(HIDDEN * HIDDEN, 1 / Math.sqrt(HIDDEN));
  const states = ids.map((id) => Array.from({ length: HIDDEN }, (_, h) => Math.tanh(Array.from({ length: HIDDEN }, (_, k) => embedding[id * HIDDEN + k] * projection[k * HIDDEN + h]).reduce((a, b) => a + b, 0))));
  if (pooling === 'cls') return states[0];
  if (pooling === 'last') return states[states.length - 1];
  return Array.from({ length: HIDDEN }, (_, h) => states.reduce((sum, s) => sum + s[h], 0) / states.length);
}

const id = (word: string) => 5 + WORDS.indexOf(word); // after [PAD] [UNK] [CLS] [SEP] [MASK]
const CLS = 2;
const SEP = 3;
const UNK = 1;

describe('transformers-encoder', () => {
  beforeAll(async () => {
    await createEngine({ backend: 'wasm' });
  });
  const model = writeTinyEncoder(mkdtempSync(join(tmpdir(), 'ub-tiny-encoder-')), { words: WORDS, hidden: HIDDEN, rng: createRng(SEED) });

  it('fills defaults from its schema', () => {
    const filled = {};
    expect(getOrCreateValidator(transformersEncoderModel.optionsSchema)(filled)).toBe(true);
    expect(filled).toEqual({ model: null, allowRemote: false, pooling: 'mean', device: 'auto', dtype: 'fp32', maxLength: 256, batchSize: 32, normalize: false, hidden: [], cache: true, cacheDir: null });
  });

  it('pools the ONNX hidden states exactly as a plain-JS reference (mean over the mask, first or last unmasked token), whatever the batch padding', async () => {
    const { ctx } = recordingContext();
    const texts = ['Good movie', 'awful zzz plot great bad', 'great'];
    const ids = [
      [CLS, id('good'), id('movie'), SEP],
      [CLS, id('awful'), UNK, id('plot'), id('great'), id('bad'), SEP],
      [CLS, id('great'), SEP],
    ];
    for (const pooling of ['mean', 'cls', 'last'] as const) {
      const featurizer = await transformersEncoderModel.createFeaturizer!(options({ model, pooling, device: 'cpu', cache: false, batchSize: 2 }), ctx);
      expect(featurizer.featureShape).toEqual([HIDDEN]);
      const features = await featurizer.featurize(texts);
      featurizer.dispose?.();
      ids.forEach((row, i) => reference(row, pooling).forEach((v, h) => expect(features[i * HIDDEN + h]).toBeCloseTo(v, 5)));
    }
  });

  it('caches features on disk by model files and text: a second featurizer reads them, a changed model does not', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ub-feature-cache-'));
    const texts = ['good plot', 'bad movie', 'good plot'];
    const first = recordingContext();
    const a = await transformersEncoderModel.createFeaturizer!(options({ model, device: 'cpu', cacheDir }), first.ctx);
    const fresh = await a.featurize(texts);
    a.dispose?.();
    expect(first.lines.join('\n')).toMatch(/cache .*\.bin \(0 texts\)[\s\S]*encoded 2 texts/);
    const file = first.lines[0].match(/cache (\S+\.bin)/)![1];
    expect(statSync(file).size).toBe(2 * (32 + 4 * HIDDEN));

    const second = recordingContext();
    const b = await transformersEncoderModel.createFeaturizer!(options({ model, device: 'cpu', cacheDir }), second.ctx);
    const cached = await b.featurize(texts);
    b.dispose?.();
    expect(second.lines.join('\n')).toContain('(2 texts)');
    expect(second.lines.join('\n')).not.toContain('encoded');
    expect(Array.from(cached)).toEqual(Array.from(fresh));

    const other = writeTinyEncoder(mkdtempSync(join(tmpdir(), 'ub-tiny-encoder-')), { words: WORDS, hidden: HIDDEN, rng: createRng(SEED + 1) });
    const third = recordingContext();
    const c = await transformersEncoderModel.createFeaturizer!(options({ model: other, device: 'cpu', cacheDir }), third.ctx);
    const changed = await c.featurize(texts);
    c.dispose?.();
    expect(third.lines.join('\n')).toContain('(0 texts)');
    expect(Array.from(changed)).not.toEqual(Array.from(fresh));
  });

  it('device auto runs on CUDA when onnxruntime-node has its provider, otherwise says why it uses the CPU', async () => {
    const { ctx, lines } = recordingContext();
    const featurizer = await transformersEncoderModel.createFeaturizer!(options({ model, cache: false }), ctx);
    featurizer.dispose?.();
    expect(lines.join('\n')).toMatch(/running the encoder on CUDA|(CUDA is not available|has no CUDA provider) \(.+\); running the encoder on CPU/);
  });

  it('refuses hub ids unless allowRemote is set, and folders without onnx/', async () => {
    const { ctx } = recordingContext();
    await expect(async () => transformersEncoderModel.createFeaturizer!(options({}), ctx)).rejects.toThrowErrorMatchingInlineSnapshot(
      `[Error: core/transformers-encoder needs options.model: the path of a local model folder (config.json, tokenizer.json, onnx/model.onnx)]`,
    );
    const hubId = 'Xenova/all-MiniLM-L6-v2';
    await expect(async () => transformersEncoderModel.createFeaturizer!(options({ model: hubId }), ctx)).rejects.toThrow(
      `model "${hubId}" is not a local folder (looked for ${resolve(hubId)}). Download the model (config.json, tokenizer files, onnx/) into a folder and point options.model at it, or set options.allowRemote to true to let transformers.js fetch "${hubId}" from the Hugging Face hub`,
    );
    const empty = mkdtempSync(join(tmpdir(), 'ub-empty-model-'));
    await expect(async () => transformersEncoderModel.createFeaturizer!(options({ model: empty }), ctx)).rejects.toThrow(`model folder ${empty} has no onnx/ subfolder`);
  });

  it('builds a linear head, or an MLP head from hidden widths, on the feature shape', () => {
    const { ctx } = recordingContext();
    const shape = { inputShape: [HIDDEN], numClasses: 2 };
    const linear = transformersEncoderModel.create(options({ model }), shape, ctx).build(createRng(1));
    expect(linear.parameters().map((p) => p.shape)).toEqual([[HIDDEN, 2], [2]]);
    linear.dispose();
    const mlp = transformersEncoderModel.create(options({ model, hidden: [16] }), shape, ctx).build(createRng(1));
    expect(mlp.layers().map((l) => l.name)).toEqual(['dense1', 'dense2']);
    mlp.dispose();
  });
});
