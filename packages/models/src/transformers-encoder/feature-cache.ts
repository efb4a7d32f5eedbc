/**
 * On-disk cache of a frozen backbone's features. One append-only file per configuration (model
 * files' hash + feature options) holds fixed-size records: the SHA-256 of a text, then its feature
 * vector as float32. A torn record at the end (a crash mid-write) is cut off when the file is opened.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join, relative } from 'node:path';

const KEY_BYTES = 32;

/** SHA-256 of every file under `folder` (relative paths and contents, sorted by path), hex. */
export function hashFolder(folder: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1 << 22);
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? walk(path) : entry.isFile() ? [path] : [];
    });
  for (const path of walk(folder).sort()) {
    hash.update(relative(folder, path)).update('\0').update(String(statSync(path).size)).update('\0');
    // Streamed in chunks: ONNX weights (model.onnx_data) can exceed the 2 GiB a Buffer holds.
    const fd = openSync(path, 'r');
    try {
      for (let read = readSync(fd, chunk); read > 0; read = readSync(fd, chunk)) hash.update(chunk.subarray(0, read));
    } finally {
      closeSync(fd);
    }
  }
  return hash.digest('hex');
}

/** Features of texts seen before, backed by `file`. */
export class FeatureCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(
    private readonly file: string | null,
    private readonly dimension: number,
  ) {
    if (!file) return;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      return;
    }
    const record = KEY_BYTES + 4 * dimension;
    const whole = bytes.length - (bytes.length % record);
    // A torn record (a crash mid-write) is cut off, so later appends stay aligned.
    if (whole !== bytes.length) truncateSync(file, whole);
    for (let offset = 0; offset < whole; offset += record) {
      const key = bytes.subarray(offset, offset + KEY_BYTES).toString('hex');
      const values = new Float32Array(dimension);
      new Uint8Array(values.buffer).set(bytes.subarray(offset + KEY_BYTES, offset + record));
      this.entries.set(key, values);
    }
  }

  /** Number of cached texts. */
  get size(): number {
    return this.entries.size;
  }

  /** The cache key of a text. */
  static key(text: string): string {
    return createHash('sha256').update(text).digest('hex');
  }

  get(key: string): Float32Array | undefined {
    return this.entries.get(key);
  }

  /** Stores new features in memory and appends them to the file in one write. */
  add(rows: readonly { readonly key: string; readonly values: Float32Array }[]): void {
    if (rows.length === 0) return;
    for (const { key, values } of rows) this.entries.set(key, values);
    if (!this.file) return;
    const record = KEY_BYTES + 4 * this.dimension;
    const out = Buffer.alloc(rows.length * record);
    rows.forEach(({ key, values }, i) => {
      out.write(key, i * record, 'hex');
      Buffer.from(values.buffer, values.byteOffset, values.byteLength).copy(out, i * record + KEY_BYTES);
    });
    mkdirSync(join(this.file, '..'), { recursive: true });
    appendFileSync(this.file, out);
  }
}
