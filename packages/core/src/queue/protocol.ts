/**
 * What travels over the queue: a job is one seed × attack group of a coordinator's run (the
 * manifest's text, the cells still to compute, the versions it was planned with and the cached
 * reference models), and its result is the finished cells and failures, with the reference models
 * the worker trained. Both are checked against a JSON Schema on arrival, so a payload from
 * elsewhere fails its job with a message instead of crashing anyone.
 *
 * Reference models travel through Redis, as binary values under keys the job names, not as files
 * in a shared folder: a worker then needs nothing but Redis (no network file system mounted at the
 * same path on every machine), and the coordinator stays the only writer of its output folder. A
 * model lives in Redis from the moment its worker finishes (or its coordinator sends it) until the
 * coordinator has stored it (or the job is done), with a time to live in case no one comes back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ajv, formatAjvErrors } from '../plugin/ajv.ts';
import type { Registry } from '../plugin/registry.ts';
import type { ModelRole } from '../plugin/types.ts';
import type { StoredCell, StoredModel } from '../runner/store.ts';

/** The BullMQ queue every coordinator and worker uses; jobs carry their coordinator's run id. */
export const QUEUE_NAME = 'unlearn-bench';

/** The format of job payloads and results; a worker refuses jobs of another. */
export const JOB_FORMAT = 1;

/** Seconds a model (or a stop request) stays in Redis without anyone taking it: a week. */
export const KEY_TTL_SECONDS = 7 * 24 * 3600;

/** The Redis key of a model sent for (`in`) or by (`out`) job `jobId`. */
export function modelKey(jobId: string, direction: 'in' | 'out', role: ModelRole): string {
  return `unlearn-bench:model:${jobId}:${direction}:${role}`;
}

/**
 * The Redis key of job `jobId`'s result (JSON of a GroupResult). The job's own return value is only
 * a pointer to it: BullMQ copies a return value into its events stream, and a group's result (every
 * cell with its per-poison scores) can be megabytes.
 */
export function resultKey(jobId: string): string {
  return `unlearn-bench:result:${jobId}`;
}

/** What a worker's job returns: where its result is. */
export interface ResultPointer {
  readonly format: number;
  readonly key: string;
}

/** The Redis key whose presence asks the workers computing run `run`'s jobs to stop (the coordinator's Ctrl-C). */
export function stopKey(run: string): string {
  return `unlearn-bench:stop:${run}`;
}

/** A cached reference model travelling with a job or its result: its record, and where in Redis its file's bytes are. */
export interface ModelTransfer {
  readonly role: 'poisoned' | 'retrained';
  /** Redis key of the weights file (saveWeights format). */
  readonly key: string;
  readonly record: Omit<StoredModel, 'path'>;
}

/** A job: one group of a coordinator's run. */
export interface GroupJob {
  readonly format: number;
  /** The coordinator's run id (its output folder's `queue.json`). */
  readonly run: string;
  /** Who asked, for messages. */
  readonly coordinator: { readonly host: string; readonly pid: number; readonly outDir: string };
  /** `unlearn-bench`, `@tensorflow/tfjs-core` and every registered plugin package → version, as the coordinator has them. */
  readonly versions: Readonly<Record<string, string>>;
  /** The manifest's text and its path relative to the coordinator's working directory (absolute if outside it). */
  readonly manifest: { readonly text: string; readonly path: string; readonly hash: string };
  /** The backend to create (`--backend`) and the engine key the cells were planned with. */
  readonly backend: string;
  readonly engine: string;
  /** The group's index in the plan and its key. */
  readonly group: { readonly index: number; readonly key: string; readonly label: string };
  /** Keys of the cells to compute. */
  readonly cells: readonly string[];
  /** Reference models the coordinator already has (the worker need not train them). */
  readonly models: readonly ModelTransfer[];
}

/** What a worker computed for a job (stored under resultKey). */
export interface GroupResult {
  readonly format: number;
  readonly host: string;
  readonly pid: number;
  /** The finished cells among the job's. */
  readonly cells: readonly StoredCell[];
  /** Cells that failed, with the message (and stack) the runner recorded. */
  readonly failures: readonly { readonly cell: string; readonly message: string }[];
  /** Reference models trained for this job. */
  readonly models: readonly ModelTransfer[];
  /** Set when the worker was asked to stop before the group was done (its signal): the cells in neither list were not computed. */
  readonly stopped?: string;
  readonly seconds: number;
}

/** A progress message a worker sends with `job.updateProgress` (the coordinator shows it). */
export type JobProgress =
  | { readonly type: 'start'; readonly host: string; readonly pid: number; readonly cells: number }
  | { readonly type: 'cell'; readonly host: string; readonly pid: number; readonly done: number; readonly total: number; readonly label: string }
  | { readonly type: 'step'; readonly host: string; readonly pid: number; readonly text: string }
  | { readonly type: 'refused'; readonly host: string; readonly pid: number; readonly message: string };

const modelSchema = {
  type: 'object',
  required: ['role', 'key', 'record'],
  additionalProperties: false,
  properties: {
    role: { type: 'string', enum: ['poisoned', 'retrained'] },
    key: { type: 'string', minLength: 1 },
    record: {
      type: 'object',
      required: ['examples', 'seconds', 'sha256', 'shapes', 'finalLoss'],
      additionalProperties: false,
      properties: {
        examples: { type: 'integer', minimum: 0 },
        seconds: { type: 'number' },
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        shapes: { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0 } } },
        finalLoss: { type: ['number', 'null'] },
      },
    },
  },
} as const;

const jobSchema = {
  type: 'object',
  required: ['format', 'run', 'coordinator', 'versions', 'manifest', 'backend', 'engine', 'group', 'cells', 'models'],
  additionalProperties: false,
  properties: {
    format: { type: 'integer' },
    run: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    coordinator: {
      type: 'object',
      required: ['host', 'pid', 'outDir'],
      additionalProperties: false,
      properties: { host: { type: 'string' }, pid: { type: 'integer' }, outDir: { type: 'string' } },
    },
    versions: { type: 'object', additionalProperties: { type: 'string' } },
    manifest: {
      type: 'object',
      required: ['text', 'path', 'hash'],
      additionalProperties: false,
      properties: { text: { type: 'string', minLength: 1 }, path: { type: 'string', minLength: 1 }, hash: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
    },
    backend: { type: 'string', enum: ['tensorflow', 'wasm', 'cpu'] },
    engine: { type: 'string', minLength: 1 },
    group: {
      type: 'object',
      required: ['index', 'key', 'label'],
      additionalProperties: false,
      properties: { index: { type: 'integer', minimum: 0 }, key: { type: 'string', minLength: 1 }, label: { type: 'string' } },
    },
    cells: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    models: { type: 'array', maxItems: 2, items: modelSchema },
  },
} as const;

const cellSchema = {
  type: 'object',
  required: ['key', 'meta', 'cost', 'rows', 'diverged', 'warning'],
  additionalProperties: false,
  properties: {
    key: { type: 'string' },
    meta: {
      type: 'object',
      required: ['experiment', 'backend', 'manifestHash', 'attackExamples', 'attackSeconds'],
      additionalProperties: false,
      properties: { experiment: { type: 'string' }, backend: { type: 'string' }, manifestHash: { type: 'string' }, attackExamples: { type: 'number' }, attackSeconds: { type: 'number' } },
    },
    cost: {
      type: 'object',
      required: ['examples', 'seconds', 'budgetExamples'],
      additionalProperties: false,
      properties: { examples: { type: 'number' }, seconds: { type: 'number' }, budgetExamples: { type: ['number', 'null'] } },
    },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        required: ['metric', 'value', 'details'],
        additionalProperties: false,
        properties: { metric: { type: 'string' }, value: { type: ['number', 'null'] }, details: { type: ['object', 'null'] } },
      },
    },
    diverged: { type: ['string', 'null'] },
    warning: { type: ['string', 'null'] },
  },
} as const;

const resultSchema = {
  type: 'object',
  required: ['format', 'host', 'pid', 'cells', 'failures', 'models', 'seconds'],
  additionalProperties: false,
  properties: {
    format: { type: 'integer', const: JOB_FORMAT },
    host: { type: 'string' },
    pid: { type: 'integer' },
    cells: { type: 'array', items: cellSchema },
    failures: {
      type: 'array',
      items: { type: 'object', required: ['cell', 'message'], additionalProperties: false, properties: { cell: { type: 'string' }, message: { type: 'string' } } },
    },
    models: { type: 'array', maxItems: 2, items: modelSchema },
    stopped: { type: 'string' },
    seconds: { type: 'number' },
  },
} as const;

const validateJob = ajv.compile<GroupJob>(jobSchema);
const validateResult = ajv.compile<GroupResult>(resultSchema);

/** Why `data` is not a job payload (undefined: it is one); `format` is checked separately (see JOB_FORMAT). */
export function jobPayloadProblem(data: unknown): string | undefined {
  if (validateJob(data)) return undefined;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return `its data is ${data === null ? 'null' : Array.isArray(data) ? 'an array' : typeof data}, not an object`;
  if (!('format' in data)) return `its data has no 'format' (its properties: ${Object.keys(data).join(', ') || 'none'})`;
  const issues = formatAjvErrors(validateJob.errors ?? [], data, 'data');
  return issues.slice(0, 5).map((issue) => `${issue.path}: ${issue.message}`).join('; ') + (issues.length > 5 ? `; and ${issues.length - 5} more` : '');
}

/** Why `value` is not a job result (undefined: it is one). */
export function jobResultProblem(value: unknown): string | undefined {
  if (validateResult(value)) return undefined;
  return formatAjvErrors(validateResult.errors ?? [], value, 'result').map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}

/** What the numbers of a job depend on, as this process has it: `unlearn-bench`, tfjs-core and every registered plugin package → version. */
export function versionsOf(version: string, registry: Registry): Record<string, string> {
  const versions: Record<string, string> = { 'unlearn-bench': version, '@tensorflow/tfjs-core': tf.version_core };
  for (const plugin of registry.registeredPlugins()) versions[plugin.name] = plugin.version;
  return versions;
}

/**
 * How the worker's `mine` differs from the coordinator's `theirs` (undefined: no difference),
 * as one sentence per package: a missing one, or both versions.
 */
export function versionMismatch(theirs: Readonly<Record<string, string>>, mine: Readonly<Record<string, string>>): string | undefined {
  const problems: string[] = [];
  for (const [name, version] of Object.entries(theirs)) {
    if (!(name in mine)) problems.push(`${name} ${version} is not loaded here`);
    else if (mine[name] !== version) problems.push(`${name} is ${mine[name]} here, ${version} at the coordinator`);
  }
  for (const name of Object.keys(mine)) if (!(name in theirs)) problems.push(`${name} ${mine[name]} is loaded here but not at the coordinator`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}
