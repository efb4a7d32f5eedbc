import { mkdirSync, mkdtempSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FeatureCache, hashFolder } from './feature-cache.ts';

describe('feature cache', () => {
  it('hashes every file of a model folder by relative path and content', () => {
    const make = (content: string, name = 'model.onnx') => {
      const dir = mkdtempSync(join(tmpdir(), 'ub-hash-'));
      mkdirSync(join(dir, 'onnx'));
      writeFileSync(join(dir, 'config.json'), '{}');
      writeFileSync(join(dir, 'onnx', name), content);
      return hashFolder(dir);
    };
    expect(make('weights')).toBe(make('weights'));
    expect(make('weights')).not.toBe(make('weightz'));
    expect(make('weights')).not.toBe(make('weights', 'model_fp16.onnx'));
  });

  it('keeps features across instances and cuts off a torn record at the end of the file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ub-cache-')), 'sub', 'config.bin');
    const first = new FeatureCache(file, 3);
    first.add([{ key: FeatureCache.key('a'), values: Float32Array.of(1, 2, 3) }]);
    first.add([{ key: FeatureCache.key('b'), values: Float32Array.of(4, 5, 6) }]);
    expect(statSync(file).size).toBe(2 * (32 + 12));
    truncateSync(file, 2 * (32 + 12) - 5); // a crash in the middle of the second record
    const second = new FeatureCache(file, 3);
    expect(second.size).toBe(1);
    expect(Array.from(second.get(FeatureCache.key('a'))!)).toEqual([1, 2, 3]);
    expect(second.get(FeatureCache.key('b'))).toBeUndefined();
    second.add([{ key: FeatureCache.key('c'), values: Float32Array.of(7, 8, 9) }]);
    const third = new FeatureCache(file, 3);
    expect([third.size, ...third.get(FeatureCache.key('c'))!]).toEqual([2, 7, 8, 9]);
    const memoryOnly = new FeatureCache(null, 3);
    memoryOnly.add([{ key: FeatureCache.key('a'), values: Float32Array.of(1, 2, 3) }]);
    expect(memoryOnly.size).toBe(1);
  });
});
