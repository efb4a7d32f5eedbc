/**
 * The canonical benchmark of ../../shared/BENCHMARK.md (see bench/README.md):
 *
 *   npm run bench -- [--backend auto|wasm|cpu|tensorflow|webgpu] [--shape 32x32x3|28x28x1|all]
 *                    [--workload cnn-small,mlp,quickstart,resnet,gpt2] [--steps 30] [--epochs 3] [--out FILE]
 *                    [--no-quickstart] [--quickstart-only] [--compare-torch [--pairs 8]] [--repeat N]
 *
 * cnn-small, batch 128, SGD (lr 0.01, momentum 0.9), float32, standard-normal inputs and uniform
 * labels from a fixed seed; 3 warm-up steps, then `--steps` timed steps of training (the project's
 * trainSgd), inference (model.logits) and whole-batch input gradients (the project's
 * inputGradients, as GUS uses them). Then the mlp 784-512-512-10 at batch 64 over 12,800 examples
 * (one warm-up epoch, `--epochs` timed ones), and the seconds of one full quickstart cell group
 * (one seed: train poisoned + retrain + unlearners + metrics; the `unlearn-bench run` command timed
 * from its start to its exit), and core/resnet's resnet-18 on
 * 32×32×3 at batch 128, width 16 (10 timed steps) and 64 (3), training and inference, and core/gpt2
 * (a 2-block width-64 model and GPT-2 small's shape) on random full-length token rows, tokens/s of
 * training, inference and input gradients. One JSON line each, with GFLOP/s next to images/s
 * (FLOPs counted as bench/README.md says).
 *
 * `--compare-torch` runs bench/pytorch_anchor.py (the same workloads in PyTorch, same threads)
 * after each round of ours, `--repeat` rounds interleaved, and prints the ratios of the medians; for
 * the quickstart group PyTorch runs the same computation as a plain script (no store, no data
 * loading), timed as a command too (Python's start and torch's import included; its computation
 * alone is its compute_seconds). The mlp is compared in pairs instead: `--pairs` epochs of training and of input
 * gradients each, ours and PyTorch's alternating (the order flipped every pair) against a PyTorch
 * process kept running, and the ratio is the median of the pairs' ratios. On a shared machine whose
 * speed drifts by a third within minutes (bench/README.md), rounds minutes apart measure the drift.
 *
 * It checks what it times and exits non-zero otherwise: the loss must go down over the timed
 * training steps, and the benchmarked backend's parameter and input gradients on a small batch must
 * match the cpu backend's. It asserts nothing about speed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  createBudgetMeter,
  createExamples,
  createRng,
  inputGradients,
  inputsTensor,
  labelsTensor,
  tokenRowSize,
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
import { cnnSmallModel, createEngine, gpt2Model, mlpModel, resnetModel, type BackendChoice } from '@unlearn-bench/models';
import { openblasCoreTypeHere } from '../packages/models/src/engine/native-kernels.ts';
import { tryWebgpu } from '../packages/models/src/engine/webgpu.ts';

const BATCH = 128;
const WARMUP = 3;
/** BENCHMARK.md's mlp workload: batch 64 over 12,800 examples (200 steps an epoch). */
const MLP_BATCH = 64;
const MLP_EXAMPLES = 12_800;
const MLP_HIDDEN = [512, 512];
/** BENCHMARK.md's recipe for the mlp workload (SGD, lr 0.01, momentum 0.9), in ours and in pytorch_anchor.py. */
const MLP_RECIPE = { batchSize: MLP_BATCH, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
const WORKLOADS = ['cnn-small', 'mlp', 'quickstart', 'resnet', 'gpt2'] as const;
/**
 * gpt2 workload configurations: a CPU-sized one (the shape of manifests/text-gpt2-small.json) and
 * GPT-2 small's (124 M parameters, vocabulary 50,257), with their tokens per text, batch and timed steps.
 * GPT-2 small trains at batch 2 × 128 tokens on wasm: at 8 × 128 its weights, gradients, momentum and
 * activations pass the wasm heap's 4 GB and the module aborts.
 */
const GPT2_SHAPES: readonly { name: string; layers: number; heads: number; dim: number; vocabSize: number | null; length: number; batch: number; steps: number }[] = [
  { name: 'small (2 blocks, dim 64)', layers: 2, heads: 4, dim: 64, vocabSize: null, length: 64, batch: 32, steps: 10 },
  { name: 'gpt2 small (12 blocks, dim 768)', layers: 12, heads: 12, dim: 768, vocabSize: 50257, length: 128, batch: 2, steps: 3 },
];
/**
 * resnet-18 widths of the resnet workload (64: the study's network; 16: a CPU-sized one), their
 * timed steps and batch. Width 64 at batch 128 needs more than the wasm engine's 4 GB heap for its
 * activations (it fails with "memory access out of bounds"), so it runs at batch 32 there.
 */
const RESNET_WIDTHS: readonly [width: number, steps: number, batch: number][] = [[16, 10, 128], [64, 3, 32]];
type Workload = (typeof WORKLOADS)[number];
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
  epochs: number;
  out?: string;
  workloads: Set<Workload>;
  compareTorch: boolean;
  torchPython?: string;
  repeat: number;
  /** Epochs of each mlp figure timed in alternation with PyTorch's (--compare-torch). */
  pairs: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { backend: 'auto', shapes: Object.keys(SHAPES), steps: 30, epochs: 3, workloads: new Set(WORKLOADS), compareTorch: false, repeat: 1, pairs: 8 };
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
    } else if (flag === '--epochs') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) fail(`--epochs must be a positive integer, got '${v}'`);
      args.epochs = v;
    } else if (flag === '--repeat') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) fail(`--repeat must be a positive integer, got '${v}'`);
      args.repeat = v;
    } else if (flag === '--pairs') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 3) fail(`--pairs must be an integer ≥ 3, got '${v}'`);
      args.pairs = v;
    } else if (flag === '--workload') {
      const list = value().split(',');
      for (const w of list) if (!(WORKLOADS as readonly string[]).includes(w)) fail(`--workload takes ${WORKLOADS.join(', ')} (comma-separated), got '${w}'`);
      args.workloads = new Set(list as Workload[]);
    } else if (flag === '--out') args.out = value();
    else if (flag === '--no-quickstart') args.workloads.delete('quickstart');
    else if (flag === '--quickstart-only') args.workloads = new Set(['quickstart']);
    else if (flag === '--compare-torch') args.compareTorch = true;
    else if (flag === '--torch-python') args.torchPython = value();
    else if (flag === '--help' || flag === '-h') {
      console.log(
        'npm run bench -- [--backend auto|wasm|cpu|tensorflow|webgpu] [--shape 32x32x3|28x28x1|all] [--workload cnn-small,mlp,quickstart,resnet,gpt2] ' +
          '[--steps N≥30] [--epochs N] [--threads N] [--out FILE] [--no-quickstart|--quickstart-only] [--compare-torch [--torch-python PATH] [--pairs N]] [--repeat N]',
      );
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

function rate(stepMs: readonly number[], count = BATCH): Rate {
  return { median: (count / median(stepMs)) * 1000, best: (count / Math.min(...stepMs)) * 1000 };
}

/**
 * Multiply-adds per example of a stack of dense/conv layers (bench/README.md): `forward` is Σ of
 * each layer's MACs; `train` adds every layer's weight gradient (as many MACs as its forward) and
 * every layer's input gradient except the first's (nothing asks for ∇ of the data); `inputGrad`
 * adds every layer's input gradient and no weight gradient. Bias, ReLU, pooling and the loss are
 * not counted (under 1% here).
 */
interface Macs {
  readonly forward: number;
  readonly train: number;
  readonly inputGrad: number;
}

function macsOf(layers: readonly number[]): Macs {
  const forward = layers.reduce((a, b) => a + b, 0);
  return { forward, train: 3 * forward - layers[0], inputGrad: 2 * forward };
}

/** cnn-small (width 32, dense 128) on H×W×C: conv 3×3·32, pool, conv 3×3·64, pool, dense 128, dense 10. */
function cnnSmallMacs([h, w, c]: readonly number[]): Macs {
  const flat = Math.floor(h / 4) * Math.floor(w / 4) * 64;
  return macsOf([h * w * 9 * c * 32, Math.floor(h / 2) * Math.floor(w / 2) * 9 * 32 * 64, flat * 128, 128 * 10]);
}

/** The mlp on 784 inputs. */
function mlpMacs(): Macs {
  const widths = [784, ...MLP_HIDDEN, 10];
  return macsOf(widths.slice(1).map((units, i) => widths[i] * units));
}

/**
 * resnet-18 (core/resnet) at `width` on 32×32×C: every convolution's kernel volume × output pixels,
 * from the model's own layer specs (stem and layer1 at 32×32, layer2 16×16, layer3 8×8, layer4 4×4), then fc.
 */
function resnet18Macs(model: ClassifierModel, [h, w]: readonly number[]): Macs {
  const side = (layer: string): number => {
    const stage = /^layer(\d)/.exec(layer);
    const down = stage ? Number(stage[1]) - 1 : 0;
    return Math.ceil(h / 2 ** down) * Math.ceil(w / 2 ** down);
  };
  const layers = model.layers().flatMap((layer) =>
    layer.parameters.filter((p) => p.name.endsWith('kernel')).map((p) => (p.shape.length === 4 ? side(layer.name) * p.size : p.size)),
  );
  return macsOf(layers);
}

/** GFLOP/s at `perSecond` examples a second of `macs` multiply-adds each (1 MAC = 2 FLOP). */
const gflops = (perSecond: number, macs: number): number => round((perSecond * 2 * macs) / 1e9, 1);

interface TrainResult {
  readonly rate: Rate;
  readonly losses: number[];
}

/** Training as the runner does it: trainSgd over one fixed batch, one epoch per step. */
function benchTrain(model: ClassifierModel, batch: Examples, steps: number): TrainResult {
  const events: ProgressEvent[] = [];
  const logger: Logger = { info: () => {}, warn: () => {}, debug: () => {}, progress: (e) => events.push(e) };
  const recipe = { batchSize: batch.count, learningRate: 0.01, momentum: 0.9, weightDecay: 0 };
  trainSgd(model, batch, { ...recipe, epochs: WARMUP, rng: createRng(3), meter: createBudgetMeter() });
  trainSgd(model, batch, { ...recipe, epochs: steps, rng: createRng(4), meter: createBudgetMeter(), logger });
  if (events.length !== steps) throw new Error(`expected ${steps} progress events from trainSgd, got ${events.length}`);
  // One epoch is one step here: its examples/s is the batch over that step's time.
  return { rate: rate(events.map((e) => (batch.count / (e.examplesPerSecond ?? Number.NaN)) * 1000), batch.count), losses: events.map((e) => e.loss ?? Number.NaN) };
}

function benchInference(model: ClassifierModel, batch: Examples, steps: number): Rate {
  const x = inputsTensor(batch);
  try {
    const times = timeCalls(steps, () => {
      const logits = model.logits(x);
      logits.dataSync();
      logits.dispose();
    });
    return rate(times, batch.count);
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
async function gradientCheck(
  backend: BenchBackend,
  weights: Float32Array[],
  shape: readonly number[],
  build: (shape: readonly number[], seed: number) => ClassifierModel = buildCnnSmall,
): Promise<number> {
  const batch = randomBatch(shape, 16, 99);
  const compute = async (choice: BenchBackend): Promise<Float32Array[]> => {
    await select(choice);
    const model = build(shape, 1);
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

/** The `unlearn-bench` command, as the README runs it from a source checkout. */
const BIN = join(dirname(fileURLToPath(import.meta.url)), '../packages/cli/bin/unlearn-bench.js');

/**
 * One full quickstart cell group (its first seed) as a user runs it: the `unlearn-bench run`
 * command in a child process, in a temporary folder, timed from its start to its exit (so with the
 * process's start-up, its worker's, the data, the store and report.html).
 */
function quickstartSeconds(backend: BackendChoice): { seconds: number; backend: string } {
  const dir = mkdtempSync(join(tmpdir(), 'unlearn-bench-bench-'));
  try {
    const manifest = JSON.parse(readFileSync(resolve('manifests/quickstart.json'), 'utf8')) as { seeds: number[]; $schema?: string };
    manifest.seeds = manifest.seeds.slice(0, 1);
    delete manifest.$schema;
    const path = join(dir, 'quickstart-1-seed.json');
    writeFileSync(path, JSON.stringify(manifest));
    const t0 = performance.now();
    // Its summary table (stdout) is not wanted here; its errors are.
    const result = spawnSync(process.execPath, [BIN, 'run', path, '--out', join(dir, 'out'), '--backend', backend, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const seconds = (performance.now() - t0) / 1000;
    if (result.status !== 0) throw new Error(`the quickstart run exited with ${result.status ?? result.signal}`);
    return { seconds, backend: tf.getBackend() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runShape(args: Args, engine: Running, name: string): Promise<Record<string, unknown>> {
  const shape = SHAPES[name];
  const macs = cnnSmallMacs(shape);
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
      train_gflop_s: gflops(train.rate.median, macs.train),
      infer_gflop_s: gflops(infer.median, macs.forward),
      input_grad_gflop_s: gflops(inputGrad.median, macs.inputGrad),
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

/** The resnet workload: resnet-18 training (trainSgd, batch 128, batch norm in training mode) and inference, 32×32×3. */
async function runResnet(args: Args, engine: Running): Promise<Record<string, unknown>[]> {
  const shape = SHAPES['32x32x3'];
  const out: Record<string, unknown>[] = [];
  for (const [width, steps, size] of RESNET_WIDTHS) {
    const model = resnetModel.create({ variant: 'resnet-18', width }, { inputShape: shape, numClasses: 10 }, benchContext()).build(createRng(1));
    const batch = randomBatch(shape, size, 7);
    try {
      const macs = resnet18Macs(model, shape);
      const infer = benchInference(model, batch, Math.min(args.steps, steps));
      const train = benchTrain(model, batch, Math.min(args.steps, steps));
      out.push({
        workload: 'resnet',
        model: `resnet-18 width ${width}`,
        shape: '32x32x3',
        backend: engine.backend,
        threads: engine.threads,
        batch: size,
        steps: Math.min(args.steps, steps),
        parameters: model.parameters().reduce((n, v) => n + v.size, 0),
        forward_mflop_per_img: round((2 * macs.forward) / 1e6, 1),
        train_img_s: round(train.rate.median, 1),
        infer_img_s: round(infer.median, 1),
        train_gflop_s: gflops(train.rate.median, macs.train),
        infer_gflop_s: gflops(infer.median, macs.forward),
        loadavg_1m: round(loadavg()[0], 2),
      });
    } finally {
      model.dispose();
    }
  }
  return out;
}

/**
 * The gpt2 workload: core/gpt2 built from a config, trained with trainSgd (SGD lr 0.01, momentum
 * 0.9, the other workloads' recipe) on one batch of random token rows of full length, then
 * inference and input gradients (with respect to the token embeddings). Tokens/s over the median
 * step; FLOPs per token of the forward pass 2·(12·dim² per block) for the dense layers plus
 * 2·2·length·dim per block for q·kᵀ and the weighted sum of v (the embedding lookup and the head
 * are left out), training 3×.
 */
async function runGpt2(args: Args, engine: Running): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const shape of GPT2_SHAPES) {
    const rowSize = tokenRowSize(shape.length);
    const options = { model: null, config: { layers: shape.layers, heads: shape.heads, dim: shape.dim, context: shape.length, vocabSize: shape.vocabSize }, tokenizer: 'byte-level', maxLength: shape.length, trainable: 'all' as const };
    const model = gpt2Model.create(options, { inputShape: [rowSize], numClasses: 2 }, benchContext()).build(createRng(1));
    const rng = createRng(7);
    const vocab = model.tokenInputs!.vocabSize;
    const inputs = Float32Array.from({ length: shape.batch * rowSize }, (_, i) => (i % rowSize < shape.length ? rng.int(vocab) : 0));
    const batch = createExamples(inputs, Int32Array.from({ length: shape.batch }, () => rng.int(2)), [rowSize]);
    const steps = Math.min(args.steps, shape.steps);
    try {
      const tokens = shape.batch * shape.length;
      const flopsPerToken = shape.layers * (2 * 12 * shape.dim * shape.dim + 4 * shape.length * shape.dim);
      const infer = benchInference(model, batch, steps);
      const inputGrad = rate(timeCalls(steps, () => inputGradients(model, batch, shape.batch)), shape.batch);
      const train = benchTrain(model, batch, steps);
      const perToken = (examplesPerSecond: number) => (examplesPerSecond * tokens) / shape.batch;
      out.push({
        workload: 'gpt2',
        model: shape.name,
        backend: engine.backend,
        threads: engine.threads,
        parameters: model.parameters().reduce((n, v) => n + v.size, 0),
        batch: shape.batch,
        tokens_per_text: shape.length,
        steps,
        train_tokens_s: round(perToken(train.rate.median)),
        infer_tokens_s: round(perToken(infer.median)),
        input_grad_tokens_s: round(perToken(inputGrad.median)),
        train_gflop_s: round((perToken(train.rate.median) * 3 * flopsPerToken) / 1e9, 2),
        infer_gflop_s: round((perToken(infer.median) * flopsPerToken) / 1e9, 2),
        loss_first: round(train.losses[0], 4),
        loss_last: round(train.losses.at(-1)!, 4),
        loadavg_1m: round(loadavg()[0], 2),
      });
    } finally {
      model.dispose();
    }
  }
  return out;
}

function buildMlp(shape: readonly number[], seed: number): ClassifierModel {
  return mlpModel.create({ hidden: MLP_HIDDEN }, { inputShape: shape, numClasses: 10 }, benchContext()).build(createRng(seed));
}

/** The mlp workload: trainSgd epochs and whole-set inputGradients over 12,800 examples at batch 64. */
async function runMlp(args: Args, engine: Running): Promise<Record<string, unknown>> {
  const shape = [28, 28, 1];
  const macs = mlpMacs();
  const data = randomBatch(shape, MLP_EXAMPLES, 7);
  const model = buildMlp(shape, 1);
  try {
    const events: ProgressEvent[] = [];
    const logger: Logger = { info: () => {}, warn: () => {}, debug: () => {}, progress: (e) => events.push(e) };
    const recipe = MLP_RECIPE;
    // One warm-up epoch (200 steps, more than the 3 warm-up steps), then the timed epochs.
    trainSgd(model, data, { ...recipe, epochs: 1, rng: createRng(3), meter: createBudgetMeter() });
    trainSgd(model, data, { ...recipe, epochs: args.epochs, rng: createRng(4), meter: createBudgetMeter(), logger });
    const trainRate = rate(events.map((e) => (MLP_EXAMPLES / (e.examplesPerSecond ?? Number.NaN)) * 1000), MLP_EXAMPLES);
    const losses = events.map((e) => e.loss ?? Number.NaN);
    if (!(losses.at(-1)! < losses[0]) && args.epochs > 1) throw new Error(`mlp: the training loss did not go down over the timed epochs (${losses.join(' → ')})`);
    inputGradients(model, data, MLP_BATCH);
    const gradRate = rate(timeEpochs(args.epochs, () => inputGradients(model, data, MLP_BATCH)), MLP_EXAMPLES);
    const worst = await gradientCheck(engine.backend as BenchBackend, model.getWeights(), shape, buildMlp);
    if (!(worst < 2e-3)) throw new Error(`mlp: ${engine.backend} gradients differ from the cpu backend's by ${worst} (relative to the largest entry)`);
    return {
      workload: 'mlp',
      shape: '28x28x1',
      hidden: MLP_HIDDEN,
      backend: engine.backend,
      threads: engine.threads,
      batch: MLP_BATCH,
      examples: MLP_EXAMPLES,
      epochs: args.epochs,
      train_ex_s: round(trainRate.median),
      input_grad_ex_s: round(gradRate.median),
      train_gflop_s: gflops(trainRate.median, macs.train),
      input_grad_gflop_s: gflops(gradRate.median, macs.inputGrad),
      loss_first: round(losses[0], 4),
      loss_last: round(losses.at(-1)!, 4),
      grad_max_rel_err_vs_cpu: Number(worst.toExponential(2)),
      loadavg_1m: round(loadavg()[0], 2),
      best_epoch_ex_s: { train: round(trainRate.best), input_grad: round(gradRate.best) },
    };
  } finally {
    model.dispose();
  }
}

/** Milliseconds of each of `count` calls of `fn` (the caller warms up). */
function timeEpochs(count: number, fn: () => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}

const ANCHOR = join(dirname(fileURLToPath(import.meta.url)), 'pytorch_anchor.py');
/** Debian's OpenMP build of OpenBLAS: PyTorch (itself OpenMP) oversubscribes the cores with the pthread build. */
const OPENBLAS_OPENMP = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

/** A Python that imports torch: --torch-python, else UNLEARN_BENCH_TORCH_PYTHON, else Debian's, else python3. */
function torchPython(explicit?: string): string | undefined {
  const candidates = explicit ? [explicit] : [process.env.UNLEARN_BENCH_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
}

/** The anchor's environment: Debian's OpenMP OpenBLAS, and the same OpenBLAS kernels as ours. */
function torchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (!env.LD_LIBRARY_PATH && existsSync(OPENBLAS_OPENMP)) env.LD_LIBRARY_PATH = OPENBLAS_OPENMP;
  // The engine's choice, inherited, or the same choice without the native kernels: a CPU model that
  // OpenBLAS does not know would otherwise run PyTorch on its SSE3 kernels.
  const core = env.OPENBLAS_CORETYPE ?? openblasCoreTypeHere();
  if (core) env.OPENBLAS_CORETYPE = core;
  return env;
}

/** Runs bench/pytorch_anchor.py on the same workloads and threads (the mlp is paired instead: pairedMlp); its JSON lines. */
function runTorch(python: string, args: Args, threads: number): Record<string, unknown>[] {
  const workloads = [
    ...(args.workloads.has('cnn-small') ? args.shapes.map((s) => `cnn-small:${s}`) : []),
    ...(args.workloads.has('resnet') ? RESNET_WIDTHS.map(([width, steps, batch]) => `resnet:${width}:${steps}:${batch}`) : []),
  ];
  const anchor = (names: readonly string[]): { records: Record<string, unknown>[]; seconds: number } => {
    const t0 = performance.now();
    const result = spawnSync(
      python,
      [ANCHOR, '--threads', String(threads), '--steps', String(args.steps), '--epochs', String(args.epochs), '--workload', names.join(',')],
      { encoding: 'utf8', env: torchEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (result.status !== 0) throw new Error(`bench/pytorch_anchor.py exited with ${result.status ?? result.signal}`);
    const records = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { records, seconds };
  };
  const records = workloads.length > 0 ? anchor(workloads).records : [];
  if (args.workloads.has('quickstart')) {
    // A command of its own, timed from start to exit as ours is (Python's start and torch's import
    // included); the script's own figure, its computation alone, is kept as compute_seconds.
    const { records: [group], seconds } = anchor(['quickstart']);
    records.push({ ...group, compute_seconds: group.seconds, seconds: round(seconds) });
  }
  if (records[0]) console.error(`bench: PyTorch ${String(records[0].torch)}, ${String(records[0].threads)} thread(s), ${String(records[0].openblas ?? records[0].blas)}`);
  return records;
}

/** The figures compared with PyTorch, per workload. */
const COMPARED: Record<string, readonly string[]> = {
  'cnn-small': ['train_img_s', 'infer_img_s', 'input_grad_img_s'],
  mlp: ['train_ex_s', 'input_grad_ex_s'],
  resnet: ['train_img_s', 'infer_img_s'],
  'quickstart-cell-group': ['seconds'],
};

/** Figures where less is better: their ratio is PyTorch's over ours, so that above 1 is faster everywhere. */
const LESS_IS_BETTER = new Set(['seconds']);

/** Ratios ours / PyTorch of the medians over the rounds, one line per workload and figure. */
function comparisons(ours: readonly Record<string, unknown>[], torch: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const key = (r: Record<string, unknown>): string => [r.workload, r.shape, r.model].filter((part) => part !== undefined).map(String).join(' ');
  for (const name of new Set(ours.filter((r) => String(r.workload) in COMPARED).map(key))) {
    const mine = ours.filter((r) => key(r) === name);
    const theirs = torch.filter((r) => key(r) === name);
    if (theirs.length === 0) continue;
    for (const figure of COMPARED[String(mine[0].workload)]) {
      const a = median(mine.map((r) => Number(r[figure])));
      const b = median(theirs.map((r) => Number(r[figure])));
      const ratio = LESS_IS_BETTER.has(figure) ? b / a : a / b;
      out.push({ workload: 'comparison', what: `${name} ${figure}`, ours: round(a, 2), pytorch: round(b, 2), ratio: round(ratio, 2), rounds: mine.length });
    }
  }
  return out;
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
  let python: string | undefined;
  if (args.compareTorch) {
    python = torchPython(args.torchPython);
    if (!python) {
      console.error('bench: --compare-torch needs a Python with torch (Debian: apt-get install -y python3-torch libopenblas0-openmp; or --torch-python PATH)');
      process.exit(3);
    }
  }
  const ours: Record<string, unknown>[] = [];
  const torch: Record<string, unknown>[] = [];
  const theirs = (pass: number): void => {
    if (!python) return;
    const records = runTorch(python, args, Math.max(1, engine.threads));
    for (const record of records) emit({ ...record, round: pass });
    torch.push(...records);
  };
  // Rounds interleave ours and PyTorch's, PyTorch first in every other round, so that a load change
  // on shared cores hits both.
  for (let pass = 1; pass <= args.repeat; pass++) {
    if (pass % 2 === 0) theirs(pass);
    const mine: Record<string, unknown>[] = [];
    if (args.workloads.has('cnn-small')) {
      for (const name of args.shapes) mine.push(await runShape(args, engine, name));
    }
    if (args.workloads.has('mlp')) mine.push(await runMlp(args, engine));
    if (args.workloads.has('resnet')) mine.push(...(await runResnet(args, engine)));
    if (args.workloads.has('gpt2')) mine.push(...(await runGpt2(args, engine)));
    for (const record of mine) emit({ ...record, round: pass });
    ours.push(...mine);
    if (args.workloads.has('quickstart') && engine.backend !== 'webgpu') {
      const q = quickstartSeconds(engine.backend as BackendChoice);
      const record = {
        workload: 'quickstart-cell-group',
        manifest: 'manifests/quickstart.json',
        seeds: 1,
        backend: q.backend,
        threads: engine.threads,
        seconds: round(q.seconds),
        loadavg_1m: round(loadavg()[0], 2),
      };
      emit({ ...record, round: pass });
      ours.push(record);
    }
    if (pass % 2 === 1) theirs(pass);
  }
  for (const line of comparisons(ours, torch)) emit(line);
  if (python && args.workloads.has('mlp')) for (const line of await pairedMlp(python, args, engine)) emit(line);
}

/** The PyTorch side of pairedMlp: bench/pytorch_anchor.py --serve mlp, one epoch per command. */
interface TorchServer {
  ready: Record<string, unknown>;
  epoch(command: 'train' | 'grad'): Promise<{ seconds: number; loss: number }>;
  close(): void;
}

async function startTorchServer(python: string, threads: number): Promise<TorchServer> {
  const child = spawn(python, [ANCHOR, '--serve', 'mlp', '--threads', String(threads)], { env: torchEnv(), stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`bench/pytorch_anchor.py --serve ended (exit ${child.exitCode ?? child.signalCode ?? 'unknown'})`);
    return JSON.parse(value) as Record<string, unknown>;
  };
  const ready = await next();
  return {
    ready,
    async epoch(command) {
      child.stdin.write(`${command}\n`);
      const reply = await next();
      return { seconds: Number(reply.seconds), loss: Number(reply.loss) };
    },
    close() {
      child.stdin.end('exit\n');
    },
  };
}

/**
 * The mlp workload timed in pairs: `args.pairs` epochs of training, then of whole-set input
 * gradients, ours and PyTorch's alternating, PyTorch first in every other pair (so that a steady
 * drift in the machine's speed favours neither). Each pair's ratio compares two epochs run within
 * about a second of each other; the figure is the median of those ratios, with their range.
 */
async function pairedMlp(python: string, args: Args, engine: Running): Promise<Record<string, unknown>[]> {
  const shape = [28, 28, 1];
  const data = randomBatch(shape, MLP_EXAMPLES, 7);
  const model = buildMlp(shape, 1);
  const macs = mlpMacs();
  const server = await startTorchServer(python, Math.max(1, engine.threads));
  try {
    const recipe = { ...MLP_RECIPE, epochs: 1 };
    const ours = {
      train: (): void => void trainSgd(model, data, { ...recipe, rng: createRng(5), meter: createBudgetMeter() }),
      grad: (): void => void inputGradients(model, data, MLP_BATCH),
    };
    ours.train(); // warm-up, as the server did before it answered
    ours.grad();
    const out: Record<string, unknown>[] = [];
    for (const command of ['train', 'grad'] as const) {
      const mine: number[] = [];
      const theirs: number[] = [];
      for (let pair = 0; pair < args.pairs; pair++) {
        const timeOurs = (): void => {
          const t0 = performance.now();
          ours[command]();
          mine.push(MLP_EXAMPLES / ((performance.now() - t0) / 1000));
        };
        if (pair % 2 === 0) timeOurs();
        theirs.push(MLP_EXAMPLES / (await server.epoch(command)).seconds);
        if (pair % 2 === 1) timeOurs();
      }
      const ratios = mine.map((m, i) => m / theirs[i]);
      const figure = command === 'train' ? 'train_ex_s' : 'input_grad_ex_s';
      out.push({
        workload: 'comparison-paired',
        what: `mlp 28x28x1 ${figure}`,
        ours: round(median(mine)),
        pytorch: round(median(theirs)),
        ours_gflop_s: gflops(median(mine), command === 'train' ? macs.train : macs.inputGrad),
        pytorch_gflop_s: gflops(median(theirs), command === 'train' ? macs.train : macs.inputGrad),
        ratio: round(median(ratios), 2),
        ratio_range: [round(Math.min(...ratios), 2), round(Math.max(...ratios), 2)],
        pairs: args.pairs,
        loadavg_1m: round(loadavg()[0], 2),
      });
    }
    return out;
  } finally {
    server.close();
    model.dispose();
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
