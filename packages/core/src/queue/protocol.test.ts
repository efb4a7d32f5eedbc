import { describe, expect, it } from 'vitest';
import { parseQueueUrl } from './connection.ts';
import { jobPayloadProblem, jobResultProblem, versionMismatch } from './protocol.ts';

const job = {
  format: 1,
  run: '0123456789abcdef',
  coordinator: { host: 'a', pid: 1, outDir: '/runs/x' },
  versions: { 'unlearn-bench': '0.1.0' },
  manifest: { text: '{}', path: 'm.json', hash: 'f'.repeat(64) },
  backend: 'wasm',
  engine: 'wasm',
  group: { index: 0, key: 'seed=1/attack=gaussian#000000000000', label: 'seed 1 · gaussian' },
  cells: ['c'],
  models: [],
};

describe('queue payloads', () => {
  it('accepts a job and says what is wrong with anything else', () => {
    expect(jobPayloadProblem(job)).toBeUndefined();
    expect(jobPayloadProblem('x')).toBe('its data is string, not an object');
    expect(jobPayloadProblem(null)).toBe('its data is null, not an object');
    expect(jobPayloadProblem({ hello: 1 })).toBe("its data has no 'format' (its properties: hello)");
    expect(jobPayloadProblem({ ...job, cells: [], backend: 'gpu' })).toMatchInlineSnapshot(
      `"data.backend: must be one of "tensorflow", "wasm", "cpu", got the string "gpu". Did you mean 'cpu'?; data.cells: must have at least 1 item(s)."`,
    );
    expect(jobPayloadProblem({ ...job, models: [{ role: 'poisoned', key: 'k', record: { examples: 1, seconds: 1, sha256: 'no', shapes: [], finalLoss: null } }] })).toContain(
      'data.models[0].record.sha256: the string "no" does not match the pattern ^[0-9a-f]{64}$.',
    );
  });

  it('checks a result before the coordinator stores it', () => {
    const cell = { key: 'c', meta: { experiment: 'e', backend: 'wasm', manifestHash: 'h', attackExamples: 0, attackSeconds: 0 }, cost: { examples: 1, seconds: 1, budgetExamples: null }, rows: [{ metric: 'accuracy', value: null, details: null }], diverged: 'non-finite weights', warning: null };
    const result = { format: 1, host: 'h', pid: 2, cells: [cell], failures: [], models: [], seconds: 1 };
    expect(jobResultProblem(result)).toBeUndefined();
    expect(jobResultProblem({ ...result, format: 2 })).toBe('result.format: must be 1, got number 2.');
    expect(jobResultProblem({ ...result, cells: [{ ...cell, rows: [{ metric: 'a', value: 'x', details: null }] }] })).toBe('result.cells[0].rows[0].value: expected number or null, got the string "x".');
  });

  it('names every version that differs, and what is missing on either side', () => {
    expect(versionMismatch({ a: '1', b: '2' }, { a: '1', b: '2' })).toBeUndefined();
    expect(versionMismatch({ 'unlearn-bench': '0.1.0', lab: '1.0.0', gone: '3' }, { 'unlearn-bench': '0.1.0', lab: '1.0.1', extra: '9' })).toBe(
      'lab is 1.0.1 here, 1.0.0 at the coordinator; gone 3 is not loaded here; extra 9 is loaded here but not at the coordinator',
    );
  });
});

describe('--queue URLs', () => {
  it('takes redis:// and rediss:// URLs and never shows the password', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6379')).toEqual({ url: 'redis://127.0.0.1:6379', shown: 'redis://127.0.0.1:6379' });
    expect(parseQueueUrl('rediss://:s3cret@queue.lab:6380/2').shown).toBe('rediss://:***@queue.lab:6380/2');
    expect(() => parseQueueUrl('localhost:6379')).toThrow("--queue must be a redis:// or rediss:// URL (redis://HOST:PORT, redis://:PASSWORD@HOST:PORT (or the password in UNLEARN_BENCH_REDIS_PASSWORD), rediss://… for TLS, optionally /DB at the end), got 'localhost:6379'.");
    expect(() => parseQueueUrl('not a url')).toThrow("--queue must be a Redis URL (redis://HOST:PORT");
    expect(() => parseQueueUrl('redis://:pw@host:6379/queue')).toThrow("--queue 'redis://:***@host:6379/queue': the path can only be a database number, e.g. redis://HOST:6379/0.");
  });
});
