/**
 * Decoded images, cached so that a second load decodes nothing: in this process's memory, and
 * optionally in one file per (root folder, size, channels, fit) on disk. An image's key is the
 * SHA-256 of its absolute path, modification time (ns) and byte size, so a changed file is decoded
 * again. The disk file holds fixed-size records — the 32-byte key, then the h·w·c pixel bytes — and
 * is replaced whole (written to a temporary name, then renamed), so concurrent workers never see a
 * torn file; the last writer wins, and every writer's file is complete.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEY_BYTES = 32;
/** Images decoded at once; sharp runs each on libuv's thread pool. */
const PARALLEL = 8;
/** Bump when the decoding changes, so that older cache files are not read. */
const FORMAT = 'image-folder-cache-v1';

/** How every image of a load is decoded. */
export interface DecodeSpec {
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  readonly fit: 'fill' | 'cover' | 'contain';
}

/** Where decoded images are kept besides the process's memory. */
export type CacheMode = 'disk' | 'memory' | 'off';

/** Where each image of a load came from. */
export interface DecodeCounts {
  readonly decoded: number;
  readonly fromMemory: number;
  readonly fromDisk: number;
}

/** Decoded pixels of this process, keyed by `<spec>:<file key>`. */
const memory = new Map<string, Uint8Array>();

/** The cache key of a file as it is now. */
function fileKey(path: string): string {
  const { mtimeNs, size } = statSync(path, { bigint: true });
  return createHash('sha256').update(`${path}\0${mtimeNs}\0${size}`).digest('hex');
}

function specKey(spec: DecodeSpec): string {
  return `${spec.height}x${spec.width}x${spec.channels}:${spec.fit}`;
}

/** Decodes one image to h·w·c bytes (HWC, row-major), resized and converted to `spec.channels`. */
async function decodeImage(path: string, spec: DecodeSpec): Promise<Uint8Array> {
  // Loaded here, not at the top: every command of the CLI imports this package, and loading sharp
  // (a native module and libvips) cost ~70 ms of each one's start-up.
  const { default: sharp } = await import('sharp');
  const image = sharp(path, { failOn: 'error', autoOrient: true })
    .resize({ width: spec.width, height: spec.height, fit: spec.fit })
    .removeAlpha()
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb');
  const { data, info } = await image
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => {
      throw new Error(`image-folder: cannot decode ${path}: ${(error as Error).message}. Remove the file or replace it with a readable PNG or JPEG.`, { cause: error });
    });
  if (info.channels !== spec.channels || data.length !== spec.height * spec.width * spec.channels) {
    throw new Error(`image-folder: ${path} decoded to ${info.width}×${info.height}×${info.channels}, not ${spec.width}×${spec.height}×${spec.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Entries of a cache file, or an empty map when it is absent or not a whole number of records. */
function readCacheFile(file: string, record: number): Map<string, Uint8Array> {
  const entries = new Map<string, Uint8Array>();
  if (!existsSync(file)) return entries;
  const bytes = readFileSync(file);
  if (bytes.length % record !== 0) return entries;
  for (let offset = 0; offset < bytes.length; offset += record) {
    entries.set(bytes.subarray(offset, offset + KEY_BYTES).toString('hex'), bytes.subarray(offset + KEY_BYTES, offset + record));
  }
  return entries;
}

function writeCacheFile(file: string, keys: readonly string[], pixels: readonly Uint8Array[], record: number): void {
  const out = Buffer.alloc(keys.length * record);
  keys.forEach((key, i) => {
    out.write(key, i * record, 'hex');
    out.set(pixels[i], i * record + KEY_BYTES);
  });
  mkdirSync(join(file, '..'), { recursive: true });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(temporary, out);
    renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** What `decodeImages` needs to know about the cache. */
export interface CacheSettings {
  readonly mode: CacheMode;
  /** Folder of the disk cache files (mode `disk`). */
  readonly dir: string;
  /** The dataset's root folder: one disk file per root and spec. */
  readonly root: string;
}

/** The disk cache file of a root folder and spec. */
function cacheFile(settings: Pick<CacheSettings, 'dir' | 'root'>, spec: DecodeSpec): string {
  const name = createHash('sha256').update(`${FORMAT}\0${settings.root}\0${specKey(spec)}`).digest('hex').slice(0, 32);
  return join(settings.dir, `${name}.bin`);
}

/**
 * Pixels of every file (h·w·c bytes each, in `files` order) and where they came from. With mode
 * `disk`, the cache file is rewritten to hold exactly this load's images whenever it lacked one of
 * them or held others; `warn` reports a cache file that cannot be written (the load goes on).
 */
export async function decodeImages(files: readonly string[], spec: DecodeSpec, settings: CacheSettings, warn: (message: string) => void): Promise<{ pixels: Uint8Array[]; counts: DecodeCounts }> {
  const record = KEY_BYTES + spec.height * spec.width * spec.channels;
  const keys = files.map(fileKey);
  const prefix = `${specKey(spec)}:`;
  const file = settings.mode === 'disk' ? cacheFile(settings, spec) : null;
  const disk = file ? readCacheFile(file, record) : new Map<string, Uint8Array>();
  const pixels: (Uint8Array | undefined)[] = keys.map((key) => (settings.mode === 'off' ? undefined : memory.get(prefix + key)));
  const fromMemory = pixels.filter((p) => p !== undefined).length;
  let fromDisk = 0;
  const todo: number[] = [];
  keys.forEach((key, i) => {
    if (pixels[i]) return;
    const stored = disk.get(key);
    if (stored) {
      pixels[i] = stored;
      fromDisk++;
    } else todo.push(i);
  });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const i = todo[next++];
      pixels[i] = await decodeImage(files[i], spec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, todo.length) }, worker));
  const done = pixels as Uint8Array[];
  if (settings.mode !== 'off') keys.forEach((key, i) => memory.set(prefix + key, done[i]));
  if (file) {
    const current = new Set(keys);
    const stale = [...disk.keys()].some((key) => !current.has(key));
    if (todo.length > 0 || stale || disk.size !== current.size) {
      try {
        writeCacheFile(file, keys, done, record);
      } catch (error) {
        warn(`cannot write the decode cache ${file}: ${(error as Error).message}; the next run decodes the images again`);
      }
    }
  }
  return { pixels: done, counts: { decoded: todo.length, fromMemory, fromDisk } };
}
