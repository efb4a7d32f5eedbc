/**
 * Seeded pseudo-random numbers. All randomness in an experiment flows from one of these, so a
 * cell's results depend only on its seed. The generator is sfc32 seeded through splitmix32.
 */

/** A seeded random source; `fork(label)` derives an independent stream for one purpose. */
export interface Rng {
  /** The seed this stream was created from. */
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** Fills a new Float32Array with N(0, sd²) samples (Box–Muller, as `normal`). */
  normalArray(length: number, sd?: number): Float32Array;
  /**
   * A new Float32Array of N(0, sd²) samples by the ziggurat method (see `ZIGGURAT`): the same
   * distribution as `normalArray`, another stream of values, several times faster. For noise drawn
   * afresh at every training step (NGD); `normalArray`'s values stay as they are so that results
   * that depend on them (poisons, cached models) do not change.
   */
  fastNormalArray(length: number, sd?: number): Float32Array;
  /** A new array with the elements in a uniformly random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array;
  /** An independent stream derived from this stream's seed and `label` (not from its state). */
  fork(label: string): Rng;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Tables of the ziggurat for the standard normal density f(x) = exp(−x²/2) (unnormalised): 128
 * layers of equal area v under f, the base layer holding the tail beyond r (G. Marsaglia and
 * W. W. Tsang, "The Ziggurat Method for Generating Random Variables", J. Stat. Softw. 5(8), 2000,
 * for r and v with 128 layers), sampled as J. A. Doornik's ZIGNOR ("An Improved Ziggurat Method to
 * Generate Normal Random Samples", 2005), which draws the layer and the position from separate
 * random bits. `x[i]` is the right edge of layer i (x[0] = v/f(r), the base layer's width if the
 * tail were a rectangle; x[1] = r; x[128] = 0) and `ratio[i] = x[i + 1] / x[i]`, the share of
 * layer i that lies wholly under f.
 */
const ZIGGURAT = (() => {
  const layers = 128;
  const r = 3.442619855899;
  const v = 9.91256303526217e-3;
  const f = (x: number) => Math.exp(-0.5 * x * x);
  const x = new Float64Array(layers + 1);
  x[0] = v / f(r);
  x[1] = r;
  for (let i = 1; i < layers - 1; i++) x[i + 1] = Math.sqrt(-2 * Math.log(v / x[i] + f(x[i])));
  x[layers] = 0;
  const ratio = new Float64Array(layers);
  for (let i = 0; i < layers; i++) ratio[i] = x[i + 1] / x[i];
  return { r, x, ratio };
})();

/** FNV-1a hash of a string, used to derive fork seeds from labels. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

class Sfc32 implements Rng {
  readonly seed: number;
  /**
   * a, b, c, d. Kept in a typed array: as object fields, 32-bit values above 2³¹ − 1 were boxed on
   * every store, which made a draw cost about 50 ns.
   */
  private readonly state = new Uint32Array(4);
  private spareNormal: number | undefined;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    const mix = splitmix32(this.seed);
    for (let i = 0; i < 4; i++) this.state[i] = mix();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The next 32 bits (sfc32; stores into the Uint32Array wrap modulo 2³²). */
  private nextUint32(): number {
    const s = this.state;
    const a = s[0];
    const b = s[1];
    const c = s[2];
    const d = s[3];
    const t = (a + b + d) >>> 0;
    s[3] = d + 1;
    s[0] = b ^ (b >>> 9);
    s[1] = c + (c << 3);
    s[2] = ((c << 21) | (c >>> 11)) + t;
    return t;
  }

  next(): number {
    return this.nextUint32() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  normal(): number {
    if (this.spareNormal !== undefined) {
      const value = this.spareNormal;
      this.spareNormal = undefined;
      return value;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }

  normalArray(length: number, sd = 1): Float32Array {
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = this.normal() * sd;
    return out;
  }

  fastNormalArray(length: number, sd = 1): Float32Array {
    const out = new Float32Array(length);
    const { r, x, ratio } = ZIGGURAT;
    for (let k = 0; k < length; k++) {
      for (;;) {
        // One 32-bit draw gives both: the layer i from its low 7 bits, u uniform in [−1, 1) from
        // the other 25 (so the two never share a bit, which is Doornik's point).
        const bits = this.nextUint32();
        const i = bits & 127;
        const u = (bits & ~127) / 2147483648;
        if (Math.abs(u) < ratio[i]) {
          out[k] = u * x[i] * sd; // wholly under the density: accept
          break;
        }
        if (i === 0) {
          // The tail beyond r (Marsaglia's exponential rejection).
          let t: number;
          let y: number;
          do {
            t = -Math.log(1 - this.next()) / r;
            y = -Math.log(1 - this.next());
          } while (2 * y < t * t);
          out[k] = (u < 0 ? -(r + t) : r + t) * sd;
          break;
        }
        // The wedge of layer i (heights f(x[i]) to f(x[i + 1])): accept the candidate if a uniform
        // height in that band lies under f(candidate). Heights are relative to f(candidate).
        const candidate = u * x[i];
        const low = Math.exp(-0.5 * (x[i] * x[i] - candidate * candidate));
        const high = Math.exp(-0.5 * (x[i + 1] * x[i + 1] - candidate * candidate));
        if (low + this.next() * (high - low) < 1) {
          out[k] = candidate * sd;
          break;
        }
      }
    }
    return out;
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  fork(label: string): Rng {
    return new Sfc32((Math.imul(this.seed ^ 0x5bd1e995, 0x27d4eb2d) ^ hashString(label)) >>> 0);
  }
}

/** Creates a seeded random stream. */
export function createRng(seed: number): Rng {
  return new Sfc32(seed);
}
