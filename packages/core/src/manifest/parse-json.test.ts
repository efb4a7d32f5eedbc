import { describe, expect, it } from 'vitest';
import { lineColumn, parseJson } from './parse-json.ts';

describe('parseJson', () => {
  it('reports line and column of a syntax error', () => {
    const text = '{\n  "a": 1,\n  "b": 2\n  "c": 3\n}';
    const result = parseJson(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issue.path).toBe('line 4, column 3');
  });

  it('reports the end for truncated input', () => {
    const result = parseJson('{\n  "a": [1, 2');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issue.path).toBe('line 2, column 13');
  });

  it('converts offsets to 1-based line and column', () => {
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
