/**
 * The canonical benchmark of ../../shared/BENCHMARK.md (see bench/README.md):
 *
 *   npm run bench -- [--backend auto|wasm|cpu|tensorflow|webgpu] [--shape 32x32x3|28x28x1|all]
 *                    [--steps 30] [--out FILE] [--no-quickstart] [--quickstart-only]
 *
 * cnn-small, batch 128, SGD (lr 0.01, momentum 0.9), float32, standard-normal inputs and uniform
 * labels from a fixed seed; 3 warm-up steps, then `--steps` timed steps of training (the project's
 * trainSgd), inference (model.logits) and whole-batch input gradients (the project's
 * inputGradients, as GUS uses them). Prints one JSON line per shape, then the seconds of one full
 * quickstart cell group (one seed: train poisoned + retrain + unlearners + metrics).
 *
 * It checks what it times and exits non-zero otherwise: the loss must go down over the timed
 * training steps, and the benchmarked backend's parameter and input gradients on a small batch must
 * match the cpu backend's. It asserts nothing about speed.
 */
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  createBudgetMeter,
  createExamples,
  createRng,
  inputGradients,
  inputsTensor,
  labelsTensor,
  crossEntropy,
  crossEntropyPerExample,
  trainSgd,
  type ClassifierModel,
  type Examples,
  type Logger,
  type PluginContext,
  type ProgressEvent,
  silentLogger,
} from '@unlearn-bench/core';
import { cnnSmallModel, createEngine, type BackendChoice } from '@unlearn-bench/models';
import { tryWebgpu } from '../packages/models/src/engine/webgpu.ts';

const BATCH = 128;
const WARMUP = 3;
const SHAPES: Record<string, [number, number, number]> = { '32x32x3': [32, 32, 3], '28x28x1': [28, 28, 1] };
const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow', 'webgpu'];

/** A backend the bench can select: the engine's, or WebGPU (which core's engine does not name yet). */
type BenchBackend = BackendChoice | 'webgpu';

/** What runs: like core's EngineInfo, with webgpu allowed. */
interface Running {
  readonly backend: string;
  readonly reason: string;
  readonly threads: number;
}

interface Args {
  backend: BenchBackend;
  threads?: number;
  shapes: string[];
  steps: number;
  out?: string;
  quickstart: 'yes' | 'no' | 'only';
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { backend: 'auto', shapes: Object.keys(SHAPES), steps: 30, quickstart: 'yes' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    if (flag === '--backend') {
      const v = value();
      if (!BACKENDS.includes(v)) fail(`--backend must be one of ${BACKENDS.join(', ')}, got '${v}'`);
      args.backend = v as BenchBackend;
    } else if (flag === '--threads') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) fail(`--threads must be a positive integer, got '${v}'`);
      args.threads = v;
    } else if (flag === '--shape') {
      const v = value();
      if (v !== 'all' && !(v in SHAPES)) fail(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, all; got '${v}'`);
      args.shapes = v === 'all' ? Object.keys(SHAPES) : [v];
    } else if (flag === '--steps') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 30) fail(`--steps must be an integer ≥ 30 (BENCHMARK.md), got '${v}'`);
      args.steps = v;
    } else if (flag === '--out') args.out = value();
    else if (flag === '--no-quickstart') args.quickstart = 'no';
    else if (flag === '--quickstart-only') args.quickstart = 'only';
    else if (flag === '--help' || flag === '-h') {
      console.log('npm run bench -- [--backend auto|wasm|cpu|tensorflow|webgpu] [--shape 32x32x3|28x28x1|all] [--steps N≥30] [--threads N] [--out FILE] [--no-quickstart|--quickstart-only]');
      process.exit(0);
    } else fail(`unknown option '${argv[i]}'`);
  }
  return args;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(1);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (v: number, digits = 1): number => Number(v.toFixed(digits));

let webgpuAdapter: string | undefined;

/** Selects `choice` (the first call decides wasm's threads); exits with code 3 if it is unavailable. */
async function select(choice: BenchBackend, threads?: number): Promise<Running> {
  if (choice !== 'webgpu') {
    try {
      return await createEngine({ backend: choice, threads });
    } catch (error) {
      console.error(`bench: backend ${choice} unavailable: ${(error as Error).message}`);
      process.exit(3);
    }
  }
  if (webgpuAdapter === undefined) {
    const result = await tryWebgpu();
    if (!result.ok) {
      console.error(`bench: backend webgpu unavailable: ${result.why}`);
      process.exit(3);
    }
    webgpuAdapter = result.adapter;
  } else if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend could not be selected again');
  return { backend: 'webgpu', reason: `forced; Dawn adapter ${webgpuAdapter}`, threads: 0 };
}

/** Standard-normal inputs and uniform labels 0..9 from a fixed seed. */
function randomBatch(shape: readonly number[], count: number, seed: number): Examples {
  const rng = createRng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const inputs = rng.normalArray(count * size);
  const labels = Int32Array.from({ length: count }, () => rng.int(10));
  return createExamples(inputs, labels, shape);
}

function buildCnnSmall(shape: readonly number[], seed: number): ClassifierModel {
  return cnnSmallModel.create({ width: 32, dense: 128 }, { inputShape: shape, numClasses: 10 }, benchContext()).build(createRng(seed));
}

/** Times `steps` calls of `fn` after WARMUP untimed ones; returns the per-call milliseconds. */
function timeCalls(steps: number, fn: () => void): number[] {
  for (let i = 0; i < WARMUP; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}

/** Images/s over the median step (the figure) and over the fastest step (what free cores give). */
interface Rate {
  readonly median: number;
  readonly best: number;
}

function rate(stepMs: readonly number[]): Rate {
  return { median: (BATCH / median(stepMs)) * 1000, best: (BATCH / Math.min(...stepMs)) * 1000 };
}

interface TrainResult {
  readonly rate: Rate;
  readonly losses: number[];
}

/** Training as the runner does it: trainSgd over one fixed batch, one epoch per step. */
function benchTrain(model: ClassifierModel, batch: Examples, steps: number): TrainResult {
  const events: ProgressEvent[] = [];
  const logger: Logger = { info: () => {}, warn: () => {}, debug: () => {}, progress: (e) => events.push(e) };
  const recipe = { batchSize: BATCH, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
  trainSgd(model, batch, { ...recipe, epochs: WARMUP, rng: createRng(3), meter: createBudgetMeter() });
  trainSgd(model, batch, { ...recipe, epochs: steps, rng: createRng(4), meter: createBudgetMeter(), logger });
  if (events.length !== steps) throw new Error(`expected ${steps} progress events from trainSgd, got ${events.length}`);
  // One epoch is one step here: its examples/s is BATCH over that step's time.
  return { rate: rate(events.map((e) => (BATCH / (e.examplesPerSecond ?? Number.NaN)) * 1000)), losses: events.map((e) => e.loss ?? Number.NaN) };
}

function benchInference(model: ClassifierModel, batch: Examples, steps: number): Rate {
  const x = inputsTensor(batch);
  try {
    const times = timeCalls(steps, () => {
      const logits = model.logits(x);
      logits.dataSync();
      logits.dispose();
    });
    return rate(times);
  } finally {
    x.dispose();
  }
}

function benchInputGradients(model: ClassifierModel, batch: Examples, steps: number): Rate {
  return rate(timeCalls(steps, () => inputGradients(model, batch, BATCH)));
}

/** Parameter gradients of the mean loss, then input gradients of the summed loss, flattened. */
function gradients(model: ClassifierModel, batch: Examples): Float32Array[] {
  const x = inputsTensor(batch);
  const y = labelsTensor(batch);
  try {
    const variables = model.parameters() as tf.Variable[];
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.logits(x), y), variables);
    const out = variables.map((v) => grads[v.name].dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(grads)]);
    const dx = tf.tidy(() => tf.grad((input: tf.Tensor) => tf.sum(crossEntropyPerExample(model.logits(input), y)))(x));
    out.push(dx.dataSync() as Float32Array);
    dx.dispose();
    return out;
  } finally {
    tf.dispose([x, y]);
  }
}

/**
 * Largest difference between the benchmarked backend's gradients and the cpu backend's (same
 * weights, same 16 images), relative to each tensor's largest entry. Leaves `backend` selected.
 */
async function gradientCheck(backend: BenchBackend, weights: Float32Array[], shape: readonly number[]): Promise<number> {
  const batch = randomBatch(shape, 16, 99);
  const compute = async (choice: BenchBackend): Promise<Float32Array[]> => {
    await select(choice);
    const model = buildCnnSmall(shape, 1);
    model.setWeights(weights);
    try {
      return gradients(model, batch);
    } finally {
      model.dispose();
    }
  };
  const actual = await compute(backend);
  const expected = await compute('cpu');
  await select(backend);
  let worst = 0;
  expected.forEach((e, t) => {
    let scale = 0;
    for (const v of e) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(actual[t][i] - e[i]) / Math.max(scale, 1e-12));
  });
  return worst;
}

/** One full quickstart cell group (its first seed) through the CLI, in a temporary folder. */
async function quickstartSeconds(backend: BackendChoice): Promise<{ seconds: number; backend: string }> {
  const { main } = await import('@unlearn-bench/cli');
  const { readFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'unlearn-bench-bench-'));
  try {
    const manifest = JSON.parse(readFileSync(resolve('manifests/quickstart.json'), 'utf8')) as { seeds: number[]; $schema?: string };
    manifest.seeds = manifest.seeds.slice(0, 1);
    delete manifest.$schema;
    const path = join(dir, 'quickstart-1-seed.json');
    writeFileSync(path, JSON.stringify(manifest));
    // The run's own summary table goes to stderr: stdout carries only the JSON lines.
    const write = process.stdout.write;
    process.stdout.write = process.stderr.write.bind(process.stderr) as typeof write;
    const t0 = performance.now();
    let code: number;
    try {
      code = await main(['run', path, '--out', join(dir, 'out'), '--backend', backend, '--quiet']);
    } finally {
      process.stdout.write = write;
    }
    const seconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`the quickstart run exited with code ${code}`);
    return { seconds, backend: tf.getBackend() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runShape(args: Args, engine: Running, name: string): Promise<Record<string, unknown>> {
  const shape = SHAPES[name];
  const batch = randomBatch(shape, BATCH, 7);
  const model = buildCnnSmall(shape, 1);
  try {
    const infer = benchInference(model, batch, args.steps);
    const inputGrad = benchInputGradients(model, batch, args.steps);
    const train = benchTrain(model, batch, args.steps);
    const k = Math.min(5, Math.floor(train.losses.length / 3));
    const first = train.losses.slice(0, k).reduce((a, b) => a + b, 0) / k;
    const last = train.losses.slice(-k).reduce((a, b) => a + b, 0) / k;
    if (!(last < first)) throw new Error(`${name}: the training loss did not go down over the timed steps (${first} → ${last}); the timed steps are wrong`);
    const worst = await gradientCheck(engine.backend as BenchBackend, model.getWeights(), shape);
    if (!(worst < 2e-3)) throw new Error(`${name}: ${engine.backend} gradients differ from the cpu backend's by ${worst} (relative to the largest entry)`);
    return {
      workload: 'cnn-small',
      shape: name,
      backend: engine.backend,
      threads: engine.threads,
      batch: BATCH,
      steps: args.steps,
      train_img_s: round(train.rate.median),
      infer_img_s: round(infer.median),
      input_grad_img_s: round(inputGrad.median),
      loss_first: round(first, 4),
      loss_last: round(last, 4),
      grad_max_rel_err_vs_cpu: Number(worst.toExponential(2)),
      // Other processes on the same cores make every figure lower: the load says how busy it was,
      // and the fastest step what the engine does while the cores are free.
      loadavg_1m: round(loadavg()[0], 2),
      best_step_img_s: { train: round(train.rate.best), infer: round(infer.best), input_grad: round(inputGrad.best) },
    };
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.out) writeFileSync(args.out, '');
  const emit = (record: Record<string, unknown>): void => {
    const line = JSON.stringify(record);
    console.log(line);
    if (args.out) appendFileSync(args.out, `${line}\n`);
  };
  const engine = await select(args.backend, args.threads);
  console.error(`bench: backend ${engine.backend} (${engine.reason}), ${engine.threads} thread(s)`);
  if (args.quickstart !== 'only') {
    for (const name of args.shapes) emit(await runShape(args, engine, name));
  }
  if (args.quickstart !== 'no' && engine.backend !== 'webgpu') {
    const q = await quickstartSeconds(engine.backend as BackendChoice);
    emit({
      workload: 'quickstart-cell-group',
      manifest: 'manifests/quickstart.json',
      seeds: 1,
      backend: q.backend,
      threads: engine.threads,
      seconds: round(q.seconds),
      loadavg_1m: round(loadavg()[0], 2),
    });
  }
}

main().catch((error: unknown) => {
  console.error(`bench: FAILED: ${(error as Error).message}`);
  process.exit(1);
});

/** The plugin context a model factory gets (cnn-small uses none of it). */
function benchContext(): PluginContext {
  return { rng: createRng(0), logger: silentLogger, engine: { backend: 'wasm', reason: 'benchmark', threads: 1 }, meter: createBudgetMeter() };
}
