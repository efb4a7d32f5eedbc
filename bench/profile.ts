/**
 * Where the time of one training step (and one input-gradient batch) goes, per wasm kernel: every
 * registered kernel is wrapped with a timer (wasm kernels are synchronous, so wall time is their
 * cost). JS time outside kernels (tape, bookkeeping) is the remainder.
 *
 *   node --conditions=@unlearn-bench/source --import tsx bench/profile.ts [--model cnn-small|mlp]
 *        [--shape 32x32x3|28x28x1] [--batch 128] [--steps 10] [--threads 1]
 *        (or --model resnet-18 [--width 16]: core/resnet's resnet-18)
 *
 * With the native kernels built, wasm runs 1 thread and `--threads` sizes the native pool (engine/index.ts).
 *
 * `--model mlp` profiles the 784-512-512-10 MLP (shape 28x28x1; BENCHMARK.md's batch is 64).
 * `--model gpt2 [--layers 2] [--heads 4] [--dim 64] [--length 64]` profiles core/gpt2 built from a
 * config (byte-level vocabulary) on random full-length token rows (batch default 32).
 */
import * as tf from '@tensorflow/tfjs-core';
import { createBudgetMeter, createExamples, createRng, inputGradients, silentLogger, tokenRowSize, trainSgd, type ClassifierModel, type PluginContext } from '@unlearn-bench/core';
import { cnnSmallModel, createEngine, gpt2Model, mlpModel, resnetModel } from '@unlearn-bench/models';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const modelName = option('model', 'cnn-small');
const gpt2Length = Number(option('length', '64'));
const shape = modelName === 'gpt2' ? [tokenRowSize(gpt2Length)] : option('shape', modelName === 'mlp' ? '28x28x1' : '32x32x3').split('x').map(Number);
const steps = Number(option('steps', '10'));
const batchSize = Number(option('batch', modelName === 'mlp' ? '64' : modelName === 'gpt2' ? '32' : '128'));

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
const inputs = modelName === 'gpt2' ? Float32Array.from({ length: batchSize * size }, (_, i) => (i % size < gpt2Length ? rng.int(257) : 0)) : rng.normalArray(batchSize * size);
const batch = createExamples(inputs, Int32Array.from({ length: batchSize }, () => rng.int(10)), shape);
const modelShape = { inputShape: shape, numClasses: 10 };
const gpt2Config = { layers: Number(option('layers', '2')), heads: Number(option('heads', '4')), dim: Number(option('dim', '64')), context: gpt2Length, vocabSize: null };
const model: ClassifierModel =
  modelName === 'gpt2'
    ? gpt2Model.create({ model: null, config: gpt2Config, tokenizer: 'byte-level', maxLength: gpt2Length, trainable: 'all' }, modelShape, benchContext()).build(createRng(1))
    : modelName === 'mlp'
    ? mlpModel.create({ hidden: [512, 512] }, modelShape, benchContext()).build(createRng(1))
    : modelName === 'resnet-18'
      ? resnetModel.create({ variant: 'resnet-18', width: Number(option('width', '16')) }, modelShape, benchContext()).build(createRng(1))
      : cnnSmallModel.create({ width: 32, dense: 128 }, modelShape, benchContext()).build(createRng(1));
const recipe = { batchSize, learningRate: 0.01, momentum: 0.9, weightDecay: 0, rng: createRng(3) };

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
  console.log(
    `\n${title} ${modelName} ${shape.join('x')}: ${wall.toFixed(2)} ms per batch of ${batchSize} (${((batchSize / wall) * 1000).toFixed(0)} examples/s); ` +
      `kernels ${inKernels.toFixed(2)} ms, other JS ${(wall - inKernels).toFixed(2)} ms (${engine.reason})`,
  );
  for (const [name, e] of rows) {
    if (e.ms / steps < 0.05) continue;
    console.log(`  ${name.padEnd(24)} ${(e.ms / steps).toFixed(3).padStart(8)} ms  ${String(e.calls / steps).padStart(5)} calls`);
  }
}

report('train step', () => trainSgd(model, batch, { ...recipe, epochs: 1, meter: createBudgetMeter() }));
report('input gradients', () => inputGradients(model, batch, batchSize));
report('inference', () => tf.tidy(() => model.logits(tf.tensor(batch.inputs, [batchSize, ...shape])).dataSync()));

/** The plugin context a model factory gets (cnn-small uses none of it). */
function benchContext(): PluginContext {
  return { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'benchmark', threads: 1 }, meter: createBudgetMeter() };
}
