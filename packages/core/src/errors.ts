/**
 * Every error unlearn-bench raises on purpose. Each class carries a stable `code` that tools and
 * tests can rely on; messages say what is wrong, where, and how to fix it.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'UB_INVALID_MANIFEST'
  | 'UB_INVALID_OPTIONS'
  | 'UB_UNKNOWN_PLUGIN'
  | 'UB_DUPLICATE_PLUGIN'
  | 'UB_INVALID_PLUGIN'
  | 'UB_CAPABILITY_MISSING'
  | 'UB_PLUGIN_FAILED'
  | 'UB_BUDGET_EXCEEDED'
  | 'UB_ENGINE'
  | 'UB_STORE'
  | 'UB_FOLDER_LOCKED'
  | 'UB_QUEUE_UNREACHABLE'
  | 'UB_USAGE';

/** Base class of every error raised on purpose; `code` is stable across versions. */
export class UnlearnBenchError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found in a manifest, located by its path (e.g. `unlearners[1].options.lr`). */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** The manifest is not valid JSON or does not match the schema; lists every problem found. */
export class InvalidManifestError extends UnlearnBenchError {
  readonly issues: readonly ManifestIssue[];
  constructor(source: string, issues: readonly ManifestIssue[]) {
    const lines = issues.map((issue) => `  - ${issue.path || '(root)'}: ${issue.message}`);
    super('UB_INVALID_MANIFEST', `Invalid manifest ${source}:\n${lines.join('\n')}`);
    this.issues = issues;
  }
}

/** A `namespace/id` that no registered plugin provides. */
export class UnknownPluginError extends UnlearnBenchError {
  constructor(kind: string, key: string, suggestion: string | undefined, known: readonly string[]) {
    const hint = suggestion
      ? `Did you mean '${suggestion}'?`
      : `Known ${kind}s: ${known.length > 0 ? known.join(', ') : '(none)'}.`;
    super('UB_UNKNOWN_PLUGIN', `Unknown ${kind} '${key}'. ${hint}`);
  }
}

/** Two contributions claim the same `namespace/id`. */
export class DuplicatePluginError extends UnlearnBenchError {
  constructor(kind: string, key: string) {
    super('UB_DUPLICATE_PLUGIN', `The ${kind} '${key}' is registered twice. Ids must be unique within a namespace.`);
  }
}

/** A plugin object has the wrong shape (bad id, missing create, bad schema, …). */
export class InvalidPluginError extends UnlearnBenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UB_INVALID_PLUGIN', message, options);
  }
}

/** A contribution requires a capability the chosen model does not offer. */
export class CapabilityMissingError extends UnlearnBenchError {
  constructor(message: string) {
    super('UB_CAPABILITY_MISSING', message);
  }
}

/** An error thrown inside a plugin hook, wrapped with the plugin key and hook name. */
export class PluginFailedError extends UnlearnBenchError {
  readonly plugin: string;
  readonly hook: string;
  constructor(plugin: string, hook: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('UB_PLUGIN_FAILED', `${plugin} failed in ${hook}: ${reason}`, { cause });
    this.plugin = plugin;
    this.hook = hook;
  }
}

/** An unlearner used more forward+backward examples than its budget allows. */
export class BudgetExceededError extends UnlearnBenchError {
  constructor(used: number, limit: number) {
    super('UB_BUDGET_EXCEEDED', `Budget exceeded: ${used} examples used, limit ${limit}.`);
  }
}

/** The tensor engine could not be set up as asked. */
export class EngineError extends UnlearnBenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UB_ENGINE', message, options);
  }
}

/** The results store could not be read or written. */
export class StoreError extends UnlearnBenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UB_STORE', message, options);
  }
}

/** Another live run holds the output folder's lock (`run.lock`). */
export class FolderLockedError extends UnlearnBenchError {
  constructor(dir: string, holder: { pid: number; host: string; since?: string } | undefined) {
    const who = holder ? `process ${holder.pid} on host ${holder.host}${holder.since ? ` (since ${holder.since})` : ''}` : 'another run (its lock file is unreadable)';
    super(
      'UB_FOLDER_LOCKED',
      `The output folder '${dir}' is in use by ${who}. Wait for that run to finish, or give this one another --out folder. If no such run exists, delete '${dir}/run.lock'.`,
    );
  }
}

/** The Redis server of `--queue` cannot be reached (or refuses the password) when a coordinator or worker starts. */
export class QueueUnreachableError extends UnlearnBenchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('UB_QUEUE_UNREACHABLE', message, options);
  }
}

/** Wrong command-line usage. */
export class UsageError extends UnlearnBenchError {
  constructor(message: string) {
    super('UB_USAGE', message);
  }
}

/** Runs `fn` and wraps anything it throws (that is not already ours) with the plugin and hook. */
export async function callPlugin<T>(plugin: string, hook: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof PluginFailedError || error instanceof CapabilityMissingError) throw error;
    throw new PluginFailedError(plugin, hook, error);
  }
}
