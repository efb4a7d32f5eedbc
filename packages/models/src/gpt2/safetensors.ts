/**
 * A reader and writer of the safetensors format (Hugging Face, https://github.com/huggingface/safetensors,
 * "Format" in its README): an unsigned little-endian 64-bit header length N, N bytes of UTF-8 JSON
 * mapping each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (byte offsets into the
 * data that follows the header; an optional `__metadata__` entry maps strings to strings), then the
 * tensors' bytes, little-endian, row-major. No npm package reads it offline from a file (the hub
 * client's parser fetches over HTTP), and the format is small, so it is read here: every tensor is
 * converted to float32 (F32 as is, F16 and BF16 widened, F64 rounded). The reader checks what the
 * format's own loader checks: header bounds, that the data ranges tile the data area without gaps
 * or overlap, and that each range holds exactly shape × dtype-size bytes.
 */
import { readFileSync } from 'node:fs';

/** One tensor of a safetensors file, as float32. */
export interface SafeTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** The tensors of a file, by name, and its `__metadata__`. */
export interface SafeTensors {
  readonly tensors: ReadonlyMap<string, SafeTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

const BYTES: Readonly<Record<string, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2 };
/** The format's own bound on the header (100 MB), against reading a corrupt length. */
const MAX_HEADER = 100_000_000;

interface HeaderEntry {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data_offsets: readonly [number, number];
}

/** Reads `file` (see `parseSafetensors`). */
export function readSafetensors(file: string): SafeTensors {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file);
}

/** Parses safetensors bytes; `source` names the file in errors. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafeTensors {
  const fail = (what: string): never => {
    throw new Error(`${source} is not a valid safetensors file: ${what}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER || 8 + headerLength > bytes.byteLength) fail(`header length ${headerLength} exceeds the file (${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (error) {
    return fail(`the header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(header).filter(([name]) => name !== '__metadata__') as [string, HeaderEntry][];
  const ranges: [number, number, string][] = [];
  const tensors = new Map<string, SafeTensor>();
  for (const [name, entry] of entries) {
    const { dtype, shape, data_offsets: offsets } = entry ?? ({} as HeaderEntry);
    const size = BYTES[dtype];
    if (size === undefined) fail(`tensor ${name} has dtype ${String(dtype)}; only F32, F16, BF16 and F64 are read (float32 weights)`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > data.byteLength) {
      fail(`tensor ${name} has data_offsets ${JSON.stringify(offsets)} outside the ${data.byteLength} data bytes`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (offsets[1] - offsets[0] !== count * size) fail(`tensor ${name} [${shape.join(', ')}] ${dtype} needs ${count * size} bytes, its range has ${offsets[1] - offsets[0]}`);
    ranges.push([offsets[0], offsets[1], name]);
    tensors.set(name, { dtype, shape: [...shape], values: toFloat32(data.subarray(offsets[0], offsets[1]), dtype, count) });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = 0;
  for (const [begin, stop, name] of ranges) {
    if (begin !== end) fail(begin < end ? `tensor ${name} overlaps the tensor before it` : `a gap of ${begin - end} bytes before tensor ${name}`);
    end = stop;
  }
  if (end !== data.byteLength) fail(`${data.byteLength - end} bytes after the last tensor`);
  return { tensors, metadata };
}

const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/** `count` values of `dtype` from little-endian `bytes`, as float32. */
function toFloat32(bytes: Uint8Array, dtype: string, count: number): Float32Array {
  // F32 on a little-endian host (every platform Node runs on): a copy of the bytes (aligned).
  if (dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  if (dtype === 'F32') for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const word = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < count; i++) {
      word.setUint32(0, view.getUint16(2 * i, true) << 16);
      out[i] = word.getFloat32(0);
    }
  } else for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

/** IEEE 754 binary16 bits as a number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Safetensors bytes of float32 `tensors` (in the given order), with optional `metadata`. */
export function encodeSafetensors(tensors: ReadonlyMap<string, { readonly shape: readonly number[]; readonly values: Float32Array }>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, { shape, values }] of tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new RangeError(`tensor ${name}: shape [${shape.join(', ')}] holds ${count} values, got ${values.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  // The format pads the header with spaces to a multiple of 8 bytes, so the data is aligned.
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).byteLength) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const { values } of tensors.values()) {
    for (let i = 0; i < values.length; i++) view.setFloat32(at + 4 * i, values[i], true);
    at += 4 * values.length;
  }
  return out;
}
