/** JSON parsing that reports line and column of a syntax error. */
import type { ManifestIssue } from '../errors.ts';

/** Line and column (1-based) of character offset `position` in `text`. */
export function lineColumn(text: string, position: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(position, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** Parses `text`; on a syntax error returns an issue saying where (line, column) and what. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; issue: ManifestIssue } {
  try {
    return { ok: true, value: JSON.parse(text) };
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
