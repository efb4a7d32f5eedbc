/** JSON parsing that reports line and column of a syntax error. */
import type { ManifestIssue } from '../errors.ts';

/** Line and column (1-based) of character offset `position` in `text`. */
export function lineColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(position, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** Deepest nesting of objects and arrays a manifest may have (real ones stay below 10). */
export const MAX_JSON_DEPTH = 100;

/** Offset of the first `[` or `{` nested deeper than `limit` (strings skipped), or -1. */
function tooDeepAt(text: string, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (++depth > limit) return i;
    } else if (c === '}' || c === ']') depth--;
  }
  return -1;
}

/** Parses `text`; on a syntax error returns an issue saying where (line, column) and what. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; issue: ManifestIssue } {
  // Checked first, without recursion: deeper values would overflow the stack of the validators.
  const deep = tooDeepAt(text, MAX_JSON_DEPTH);
  if (deep >= 0) {
    const where = lineColumn(text, deep);
    return { ok: false, issue: { path: `line ${where.line}, column ${where.column}`, message: `nested more than ${MAX_JSON_DEPTH} levels deep; a manifest (options included) may nest at most ${MAX_JSON_DEPTH} levels.` } };
  }
  try {
    return { ok: true, value: JSON.parse(text.replace(/^\uFEFF/, '')) }; // a UTF-8 byte-order mark is not an error
  } catch (error) {
    const message = (error as Error).message;
    const explicit = /line (\d+) column (\d+)/.exec(message);
    const offset = /position (\d+)/.exec(message);
    const where = explicit
      ? { line: Number(explicit[1]), column: Number(explicit[2]) }
      : lineColumn(text, offset ? Number(offset[1]) : text.length);
    const reason = message.replace(/ in JSON at position \d+.*$/s, '').replace(/\s*\(line \d+ column \d+\)/, '');
    return {
      ok: false,
      issue: { path: `line ${where.line}, column ${where.column}`, message: `invalid JSON: ${reason}. Check for a missing comma, quote or bracket there.` },
    };
  }
}
