/**
 * Says, without benchmarking, which GPU paths load here and why the others do not: one JSON line
 * per path (`{"path":…,"ok":…,"detail":…}`). bench/gpu.sh runs it first.
 *
 *   node --conditions=@unlearn-bench/source --import tsx bench/probe-gpu.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { createEngine } from '@unlearn-bench/models';
import { tryWebgpu } from '../packages/models/src/engine/webgpu.ts';

const report = (path: string, ok: boolean, detail: string): void => console.log(JSON.stringify({ path, ok, detail }));

try {
  const info = await createEngine({ backend: 'tensorflow' });
  const gpu = tf.env().getBool('IS_NODE') && info.reason.includes('tfjs-node-gpu');
  report('tensorflow', true, `${info.reason}${gpu ? '' : ' (CPU build: install @tensorflow/tfjs-node-gpu for CUDA)'}`);
} catch (error) {
  report('tensorflow', false, (error as Error).message);
}
const webgpu = await tryWebgpu();
report('webgpu', webgpu.ok, webgpu.ok ? `Dawn adapter ${webgpu.adapter}` : webgpu.why);
process.exit(0);
