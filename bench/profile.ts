/**
 * Where the time of one cnn-small training step (and one input-gradient batch) goes, per wasm
 * kernel: every registered kernel is wrapped with a timer (wasm kernels are synchronous, so wall
 * time is their cost). JS time outside kernels (tape, bookkeeping) is the remainder.
 *
 *   node --conditions=@unlearn-bench/source --import tsx bench/profile.ts [--shape 32x32x3|28x28x1] [--steps 10] [--threads 1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter, createExamples, createRng, inputGradients, silentLogger, trainSgd, type PluginContext } from '@unlearn-bench/core';
import { cnnSmallModel, createEngine } from '@unlearn-bench/models';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const shape = option('shape', '32x32x3').split('x').map(Number);
const steps = Number(option('steps', '10'));

const engine = await createEngine({ backend: 'wasm', threads: Number(option('threads', '1')) });
const totals = new Map<string, { ms: number; calls: number }>();
let enabled = false;
let depth = 0;
let childMs = 0;
const parents: string[] = [];
for (const config of tf.getKernelsForBackend(engine.backend)) {
  const inner = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, config.backendName);
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      if (!enabled) return inner(args);
      // Exclusive time: kernels composed of other kernels do not count their children twice.
      const name = depth === 0 ? config.kernelName : `${parents.at(-1)} > ${config.kernelName}`;
      parents.push(config.kernelName);
      depth++;
      const childBefore = childMs;
      childMs = 0;
      const t0 = performance.now();
      const out = inner(args);
      const ms = performance.now() - t0;
      const own = ms - childMs;
      childMs = childBefore + ms;
      depth--;
      parents.pop();
      const entry = totals.get(name) ?? { ms: 0, calls: 0 };
      entry.ms += own;
      entry.calls += 1;
      totals.set(name, entry);
      return out;
    },
  });
}

const rng = createRng(7);
const size = shape.reduce((a, b) => a * b, 1);
const batch = createExamples(rng.normalArray(128 * size), Int32Array.from({ length: 128 }, () => rng.int(10)), shape);
const model = cnnSmallModel.create({ width: 32, dense: 128 }, { inputShape: shape, numClasses: 10 }, benchContext()).build(createRng(1));
const recipe = { batchSize: 128, learningRate: 0.01, momentum: 0.9, weightDecay: 0, rng: createRng(3) };

function report(title: string, run: () => void): void {
  run(); // warm-up
  totals.clear();
  enabled = true;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) run();
  const wall = (performance.now() - t0) / steps;
  enabled = false;
  const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms);
  const inKernels = rows.reduce((a, [, e]) => a + e.ms, 0) / steps;
  console.log(`\n${title} ${shape.join('x')}: ${wall.toFixed(1)} ms per batch of 128 (${((128 / wall) * 1000).toFixed(0)} img/s); kernels ${inKernels.toFixed(1)} ms, other JS ${(wall - inKernels).toFixed(1)} ms`);
  for (const [name, e] of rows) {
    if (e.ms / steps < 0.05) continue;
    console.log(`  ${name.padEnd(24)} ${(e.ms / steps).toFixed(2).padStart(8)} ms  ${String(e.calls / steps).padStart(5)} calls`);
  }
}

report('train step', () => trainSgd(model, batch, { ...recipe, epochs: 1, meter: createBudgetMeter() }));
report('input gradients', () => inputGradients(model, batch, 128));
report('inference', () => tf.tidy(() => model.logits(tf.tensor(batch.inputs, [128, ...shape])).dataSync()));

/** The plugin context a model factory gets (cnn-small uses none of it). */
function benchContext(): PluginContext {
  return { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'benchmark', threads: 1 }, meter: createBudgetMeter() };
}
