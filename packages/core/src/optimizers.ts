/**
 * Optimizers and learning-rate schedules for core's training loop, with PyTorch's semantics so
 * that methods ported from PyTorch can be written faithfully:
 *
 * - SGD: https://pytorch.org/docs/stable/generated/torch.optim.SGD.html (dampening 0)
 * - Adam: https://pytorch.org/docs/stable/generated/torch.optim.Adam.html (amsgrad off)
 * - AdamW: https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
 * - schedules: StepLR, MultiStepLR, CosineAnnealingLR, LinearLR chained by SequentialLR
 *   (https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate).
 *
 * An optimizer owns its state (momentum buffers, Adam moments, step counts), so one optimizer can
 * be handed to several training passes and keeps its state across them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingRecipe } from './plugin/types.ts';

/** The update rules: `sgd` (default), `adam`, `adamw`. */
export type OptimizerName = 'sgd' | 'adam' | 'adamw';

/**
 * A learning-rate schedule: lr(t) for t counted in `unit`s from 0, with an optional linear warm-up
 * in front (PyTorch's LinearLR then the main schedule, as SequentialLR chains them: the main
 * schedule's own time starts at 0 when the warm-up ends).
 */
export interface LearningRateSchedule {
  /** `constant`, `step` (×gamma every stepSize), `multistep` (×gamma at each milestone), `cosine` (to a floor). */
  readonly type: 'constant' | 'step' | 'multistep' | 'cosine';
  /**
   * What t counts: `epoch` (passes over the training run's examples; the lr changes at epoch
   * boundaries, as a scheduler stepped once per epoch) or `step` (optimizer updates). @default 'epoch'
   */
  readonly unit?: 'epoch' | 'step';
  /** `step`: decay period in units (PyTorch StepLR `step_size`). */
  readonly stepSize?: number;
  /** `multistep`: the units at which the lr is multiplied by gamma (MultiStepLR `milestones`). */
  readonly milestones?: readonly number[];
  /** `step` and `multistep`: the decay factor. @default 0.1 (PyTorch's) */
  readonly gamma?: number;
  /**
   * `cosine`: units from the base lr down to the floor (CosineAnnealingLR `T_max`); after it the lr
   * stays at the floor. Default: the rest of the run after warm-up, when the run's length is known.
   */
  readonly length?: number;
  /** `cosine`: the floor (CosineAnnealingLR `eta_min`). @default 0 */
  readonly minLearningRate?: number;
  /** Units of linear warm-up before the schedule. @default 0 */
  readonly warmup?: number;
  /** Warm-up starts at this fraction of the lr and reaches 1 at `warmup` (LinearLR `start_factor`). @default 1/3 (PyTorch's) */
  readonly warmupStartFactor?: number;
}

/** The recipe fields an optimizer reads (a `TrainingRecipe` has them all). */
export type OptimizerRecipe = Pick<TrainingRecipe, 'learningRate' | 'momentum' | 'weightDecay' | 'optimizer' | 'nesterov' | 'decoupledWeightDecay' | 'betas' | 'eps' | 'schedule'>;

/** How long the run is, for schedules counted in epochs and for a cosine without `length`. */
export interface OptimizerHorizon {
  /** Optimizer steps per epoch (needed when the schedule's unit is `epoch`). */
  readonly stepsPerEpoch?: number;
  /** Optimizer steps planned in all (the default cosine length). */
  readonly totalSteps?: number;
}

/** Per-step extras of `Optimizer.step`. */
export interface StepExtras {
  /**
   * Added to each variable's update direction after momentum / Adam moments and weight decay, and
   * kept out of the optimizer's state: w ← w − lr·(d + noise). Keyed by variable name.
   */
  readonly updateNoise?: tf.NamedTensorMap;
}

/** An optimizer over fixed variables; its state persists across `step` calls until `dispose`. */
export interface Optimizer {
  readonly name: OptimizerName;
  readonly variables: readonly tf.Variable[];
  /** Updates taken so far (the schedule's step count). */
  readonly steps: number;
  /** Multiplies the scheduled lr (a method's own decay, e.g. SCRUB's per-epoch decay). @default 1 */
  learningRateFactor: number;
  /** The lr the next step uses. */
  learningRate(): number;
  /** One update from `grads` (keyed by variable name; a variable without a gradient is left as is). */
  step(grads: tf.NamedTensorMap, extras?: StepExtras): void;
  /** A copy of the state tensors, keyed `<variable>/<slot>` (for tests and inspection). */
  state(): Record<string, Float32Array>;
  dispose(): void;
}

/**
 * A kernel a backend may register to take one SGD step of a variable in one pass (the models package
 * registers it with its native kernels): inputs `w`, `g` and, where present, `buffer` (the momentum
 * buffer of the previous step) and `noise` (`StepExtras.updateNoise`), all float32 of one shape;
 * outputs `[w']`, or `[w', buffer']` when `momentum` > 0. It must give the bits of the composite in
 * `createOptimizer` (one float32 rounding per operation, in the same order, no fused multiply-add):
 * g ← g + w·coupledDecay; w₀ ← w·decoupledFactor; b ← buffer·momentum + g (b ← g without a buffer);
 * d ← nesterov ? g + b·momentum : b (d ← g when momentum is 0); d ← d + noise; w' ← w₀ − d·learningRate,
 * where coupledDecay 0 and decoupledFactor 1 skip their operation.
 */
export const SGD_UPDATE_KERNEL = 'UnlearnBenchSgdUpdate';

/** The attributes of `SGD_UPDATE_KERNEL`. */
export interface SgdUpdateAttrs {
  readonly momentum: number;
  readonly learningRate: number;
  /** λ of coupled weight decay, or 0. */
  readonly coupledDecay: number;
  /** 1 − lr·λ of decoupled weight decay, or 1. */
  readonly decoupledFactor: number;
  readonly nesterov: boolean;
}

/** Problems with the optimizer fields of a recipe, as `{ path, message }` relative to the recipe. */
export function trainingRecipeIssues(recipe: OptimizerRecipe): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  const name = recipe.optimizer ?? 'sgd';
  if (recipe.nesterov && name !== 'sgd') issues.push({ path: 'nesterov', message: `nesterov applies to optimizer 'sgd' only, not '${name}'. Remove it or use "optimizer": "sgd".` });
  if (recipe.nesterov && !(recipe.momentum > 0)) issues.push({ path: 'nesterov', message: 'Nesterov momentum needs a momentum > 0 (as in PyTorch). Set "momentum" or remove "nesterov".' });
  if (name === 'sgd' && (recipe.betas !== undefined || recipe.eps !== undefined)) issues.push({ path: recipe.betas !== undefined ? 'betas' : 'eps', message: `betas and eps apply to 'adam' and 'adamw' only. Remove them or set "optimizer".` });
  if (name === 'adamw' && recipe.decoupledWeightDecay === false) issues.push({ path: 'decoupledWeightDecay', message: `'adamw' always decouples weight decay; use "optimizer": "adam" for coupled L2.` });
  const betas = recipe.betas;
  if (betas && !(betas.length === 2 && betas.every((b) => b >= 0 && b < 1))) issues.push({ path: 'betas', message: 'betas must be two numbers in [0, 1).' });
  const s = recipe.schedule;
  if (s) {
    const allowed: Record<LearningRateSchedule['type'], readonly string[]> = {
      constant: [],
      step: ['stepSize', 'gamma'],
      multistep: ['milestones', 'gamma'],
      cosine: ['length', 'minLearningRate'],
    };
    const own = allowed[s.type];
    if (!own) issues.push({ path: 'schedule.type', message: `unknown schedule '${String(s.type)}'. Expected one of: ${Object.keys(allowed).join(', ')}.` });
    else {
      for (const key of ['stepSize', 'milestones', 'gamma', 'length', 'minLearningRate'] as const) {
        if (s[key] !== undefined && !own.includes(key)) issues.push({ path: `schedule.${key}`, message: `'${key}' does not apply to a '${s.type}' schedule${own.length ? ` (it takes: ${own.join(', ')})` : ''}.` });
      }
      if (s.type === 'step' && s.stepSize === undefined) issues.push({ path: 'schedule.stepSize', message: `a 'step' schedule needs "stepSize" (in ${s.unit ?? 'epoch'}s).` });
      if (s.type === 'multistep' && s.milestones === undefined) issues.push({ path: 'schedule.milestones', message: `a 'multistep' schedule needs "milestones" (in ${s.unit ?? 'epoch'}s).` });
      if (s.milestones && s.milestones.some((m, i) => i > 0 && m < s.milestones![i - 1])) issues.push({ path: 'schedule.milestones', message: 'milestones must be in increasing order.' });
      if (s.type === 'cosine' && s.minLearningRate !== undefined && s.minLearningRate > recipe.learningRate) issues.push({ path: 'schedule.minLearningRate', message: `the cosine floor ${s.minLearningRate} is above the learning rate ${recipe.learningRate}.` });
    }
    if (s.warmupStartFactor !== undefined && !(s.warmup && s.warmup > 0)) issues.push({ path: 'schedule.warmupStartFactor', message: 'warmupStartFactor needs "warmup" > 0.' });
  }
  return issues;
}

/**
 * The learning rate after `steps` updates under `schedule` (undefined: constant), without a
 * method's own factor. Throws when the schedule needs a horizon that is not given.
 */
export function scheduledLearningRate(baseLearningRate: number, schedule: LearningRateSchedule | undefined, steps: number, horizon: OptimizerHorizon = {}): number {
  if (!schedule) return baseLearningRate;
  const unit = schedule.unit ?? 'epoch';
  let perUnit = 1;
  if (unit === 'epoch') {
    if (!horizon.stepsPerEpoch || horizon.stepsPerEpoch < 1) throw new RangeError(`a schedule counted in epochs needs the run's steps per epoch; give "unit": "step" or pass stepsPerEpoch to createOptimizer`);
    perUnit = horizon.stepsPerEpoch;
  }
  const t = Math.floor(steps / perUnit);
  const warmup = schedule.warmup ?? 0;
  if (t < warmup) {
    const start = schedule.warmupStartFactor ?? 1 / 3;
    return baseLearningRate * (start + ((1 - start) * t) / warmup);
  }
  const u = t - warmup;
  const gamma = schedule.gamma ?? 0.1;
  switch (schedule.type) {
    case 'constant':
      return baseLearningRate;
    case 'step':
      return baseLearningRate * gamma ** Math.floor(u / schedule.stepSize!);
    case 'multistep':
      return baseLearningRate * gamma ** (schedule.milestones ?? []).filter((m) => m <= u).length;
    case 'cosine': {
      let length = schedule.length;
      if (length === undefined) {
        if (horizon.totalSteps === undefined) throw new RangeError('a cosine schedule without "length" needs the run\'s planned steps; give schedule.length or pass totalSteps to createOptimizer');
        length = Math.ceil(horizon.totalSteps / perUnit) - warmup;
      }
      const floor = schedule.minLearningRate ?? 0;
      if (length <= 0 || u >= length) return floor;
      return floor + ((baseLearningRate - floor) * (1 + Math.cos((Math.PI * u) / length))) / 2;
    }
  }
}

/**
 * Creates the optimizer a recipe names over `variables` (PyTorch's update rules; see the module
 * TSDoc). Defaults: `sgd` with coupled L2 weight decay (the gradient gets + λw) and a constant lr.
 * `weightDecay` is coupled for `sgd` and `adam` unless `decoupledWeightDecay` (then w ← w(1 − lr·λ)
 * before the update, as AdamW), and always decoupled for `adamw`. Call `dispose` when done.
 */
export function createOptimizer(recipe: OptimizerRecipe, variables: readonly tf.Variable[], horizon: OptimizerHorizon = {}): Optimizer {
  const issues = trainingRecipeIssues(recipe);
  if (issues.length > 0) throw new RangeError(`invalid optimizer settings: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  const name = recipe.optimizer ?? 'sgd';
  const decoupled = name === 'adamw' || recipe.decoupledWeightDecay === true;
  const lambda = recipe.weightDecay;
  const momentum = recipe.momentum;
  const nesterov = recipe.nesterov === true;
  const [beta1, beta2] = recipe.betas ?? [0.9, 0.999];
  const eps = recipe.eps ?? 1e-8;
  // Slots per variable: sgd: [buffer]; adam(w): [m, v]. Created at a variable's first update.
  const slots: (tf.Tensor[] | undefined)[] = variables.map(() => undefined);
  const variableSteps = variables.map(() => 0);
  let steps = 0;
  let disposed = false;

  const optimizer: Optimizer = {
    name,
    variables,
    get steps() {
      return steps;
    },
    learningRateFactor: 1,
    learningRate() {
      return scheduledLearningRate(recipe.learningRate, recipe.schedule, steps, horizon) * optimizer.learningRateFactor;
    },
    step(grads, extras) {
      if (disposed) throw new Error('optimizer used after dispose()');
      const lr = optimizer.learningRate();
      // The backend's one-pass SGD kernel, where it has one (SGD_UPDATE_KERNEL: the same bits).
      const fused = name === 'sgd' && tf.getKernel(SGD_UPDATE_KERNEL, tf.getBackend()) !== undefined;
      variables.forEach((variable, i) => {
        const gradient = grads[variable.name];
        if (!gradient) return; // as PyTorch skips a parameter whose .grad is None
        variableSteps[i] += 1;
        const k = variableSteps[i];
        const noise = extras?.updateNoise?.[variable.name];
        if (fused && [gradient, noise].every((t) => !t || (t.dtype === 'float32' && tf.util.arraysEqual(t.shape, variable.shape)))) {
          const previous = slots[i]?.[0];
          const attrs: SgdUpdateAttrs = {
            momentum,
            learningRate: lr,
            coupledDecay: lambda > 0 && !decoupled ? lambda : 0,
            decoupledFactor: lambda > 0 && decoupled ? 1 - lr * lambda : 1,
            nesterov,
          };
          const kept = tf.tidy(() => {
            const inputs: tf.NamedTensorMap = { w: variable, g: gradient };
            if (previous) inputs.buffer = previous;
            if (noise) inputs.noise = noise;
            const [updated, buffer] = tf.engine().runKernel(SGD_UPDATE_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
            variable.assign(updated);
            return buffer ? [tf.keep(buffer)] : [];
          });
          if (kept.length > 0) {
            if (slots[i]) tf.dispose(slots[i]);
            slots[i] = kept;
          }
          return;
        }
        const kept = tf.tidy(() => {
          let w: tf.Tensor = variable;
          let g: tf.Tensor = gradient;
          if (lambda > 0) {
            if (decoupled) w = tf.mul(w, 1 - lr * lambda);
            else g = tf.add(g, tf.mul(variable, lambda));
          }
          let direction: tf.Tensor;
          let state: tf.Tensor[] = [];
          if (name === 'sgd') {
            if (momentum > 0) {
              const previous = slots[i]?.[0];
              const buffer = previous ? tf.add(tf.mul(previous, momentum), g) : g;
              direction = nesterov ? tf.add(g, tf.mul(buffer, momentum)) : buffer;
              state = [buffer];
            } else direction = g;
          } else {
            const [m0, v0] = slots[i] ?? [tf.zerosLike(g), tf.zerosLike(g)];
            const m = tf.add(tf.mul(m0, beta1), tf.mul(g, 1 - beta1));
            const v = tf.add(tf.mul(v0, beta2), tf.mul(tf.square(g), 1 - beta2));
            const correction1 = 1 - beta1 ** k;
            const correction2 = 1 - beta2 ** k;
            // PyTorch: denom = sqrt(v) / sqrt(1 − β₂ᵏ) + eps; step = lr / (1 − β₁ᵏ) · m / denom.
            direction = tf.div(tf.div(m, correction1), tf.add(tf.div(tf.sqrt(v), Math.sqrt(correction2)), eps));
            state = [m, v];
          }
          if (noise) direction = tf.add(direction, noise);
          variable.assign(tf.sub(w, tf.mul(direction, lr)));
          return state.map((t) => tf.keep(t.clone()));
        });
        if (kept.length > 0) {
          if (slots[i]) tf.dispose(slots[i]);
          slots[i] = kept;
        }
      });
      steps += 1;
    },
    state() {
      const out: Record<string, Float32Array> = {};
      const names = name === 'sgd' ? ['momentum'] : ['exp_avg', 'exp_avg_sq'];
      variables.forEach((variable, i) => slots[i]?.forEach((t, j) => (out[`${variable.name}/${names[j]}`] = t.dataSync() as Float32Array)));
      return out;
    },
    dispose() {
      disposed = true;
      for (const s of slots) if (s) tf.dispose(s);
      slots.fill(undefined);
    },
  };
  optimizer.learningRate(); // a schedule that lacks its horizon fails here, before any step
  return optimizer;
}
