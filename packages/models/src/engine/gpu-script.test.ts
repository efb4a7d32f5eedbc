/**
 * bench/gpu.sh on a machine without a GPU (this project's, and CI's): its probe reports every GPU
 * path as unavailable with the reason, and the script still ends with its table and exit code 0.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

describe('bench/gpu.sh --check without a GPU', () => {
  it('lists each GPU path as unavailable, with why, in its closing table', () => {
    const output = execFileSync('bash', ['bench/gpu.sh', '--check'], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, GPU_BENCH_OUT: '' } });
    const table = output.slice(output.lastIndexOf('== cnn-small'));
    const rows = table.split('\n').slice(2, 5);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['cpu', 'tensorflow', 'webgpu']);
    expect(rows[0]).toMatch(/not run \(--check\)$/);
    expect(rows[1]).toMatch(/unavailable: .*@tensorflow\/tfjs-node-gpu is not installed/);
    expect(rows[2]).toMatch(/unavailable: the webgpu package \(Dawn for Node\) is not installed: npm install --no-save webgpu@0\.6\.2/);
  });
});
