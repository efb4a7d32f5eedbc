#!/usr/bin/env node
/**
 * Builds the optional native kernels (unlearn_blas.c) into native/build/unlearn_blas.node with the
 * system C compiler, Node's own headers and OpenBLAS (Debian: apt-get install -y libopenblas-dev).
 *
 *   node native/build.mjs             # fails (exit 1) with the reason when it cannot build
 *   node native/build.mjs --optional  # postinstall: prints one line and exits 0 either way
 *
 * Headers: $npm_config_nodedir/include/node if set (npm sets it from `npm config get nodedir`),
 * else the include/node folder next to the running node binary (Node's official and Debian layouts).
 * Compiler: $CC, else cc. BLAS flags: `pkg-config --cflags --libs openblas` where it answers, else -lopenblas.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const source = join(here, 'unlearn_blas.c');
const target = join(here, 'build', 'unlearn_blas.node');

function giveUp(why) {
  if (optional) {
    console.log(`@unlearn-bench/models: native BLAS kernels not built (${why}); the wasm kernels will be used. For the fast path: apt-get install -y libopenblas-dev && npm run build:native -w @unlearn-bench/models`);
    process.exit(0);
  }
  console.error(`build:native: ${why}`);
  process.exit(1);
}

// A postinstall must never fail the install, whatever goes wrong here.
if (optional) process.on('uncaughtException', (error) => giveUp(error.message));

function nodeHeaders() {
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    resolve(dirname(process.execPath), '..', 'include', 'node'),
  ].filter(Boolean);
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
}

function blasFlags() {
  try {
    const out = execFileSync('pkg-config', ['--cflags', '--libs', 'openblas'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const flags = out.trim().split(/\s+/).filter(Boolean);
    if (flags.some((f) => f.startsWith('-l'))) return flags;
  } catch {
    // no pkg-config, or no openblas.pc: try the plain library name
  }
  return ['-lopenblas'];
}

const headers = nodeHeaders();
if (!headers) giveUp("Node's headers (node_api.h) were not found; set npm_config_nodedir to a Node source or headers folder");
const cc = process.env.CC || 'cc';
const partial = `${target}.partial`;
mkdirSync(dirname(target), { recursive: true });
// -ffp-contract=off: the elementwise kernels must round every operation as the wasm kernels do (no fused multiply-add).
const args = ['-O3', '-std=c11', '-ffp-contract=off', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter', `-I${headers}`, source, '-o', partial, ...blasFlags(), '-lm'];
try {
  execFileSync(cc, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
} catch (error) {
  rmSync(partial, { force: true });
  const err = /** @type {{ code?: string, stderr?: string }} */ (error);
  if (err.code === 'ENOENT') giveUp(`no C compiler (${cc}) found`);
  const stderr = String(err.stderr ?? '');
  if (/cblas\.h|-lopenblas|cannot find -l/.test(stderr)) giveUp('OpenBLAS was not found (install libopenblas-dev)');
  giveUp(`${cc} failed: ${stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
}
renameSync(partial, target);
console.log(`@unlearn-bench/models: built ${target} (OpenBLAS)`);
