/** Crash-safe file writes: write a temporary file, fsync, then rename over the target. */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

/** Writes `data` to `path` atomically: readers see the old file or the complete new one. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/**
 * Saves model weights (one Float32Array per parameter) as: uint32 header length, JSON header
 * `{ "lengths": [...] }`, then the float32 values (little-endian).
 */
export function saveWeights(path: string, weights: readonly Float32Array[]): void {
  const header = Buffer.from(JSON.stringify({ lengths: weights.map((w) => w.length) }), 'utf8');
  const total = weights.reduce((n, w) => n + w.length, 0);
  const out = Buffer.alloc(4 + header.length + total * 4);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let offset = 4 + header.length;
  for (const w of weights) {
    Buffer.from(w.buffer, w.byteOffset, w.byteLength).copy(out, offset);
    offset += w.byteLength;
  }
  writeFileAtomic(path, out);
}

/** Reads weights written by `saveWeights`. */
export function loadWeights(path: string): Float32Array[] {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt32LE(0);
  const { lengths } = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8')) as { lengths: number[] };
  let offset = 4 + headerLength;
  return lengths.map((length) => {
    const copy = new Float32Array(length);
    Buffer.from(copy.buffer).set(bytes.subarray(offset, offset + length * 4));
    offset += length * 4;
    return copy;
  });
}
