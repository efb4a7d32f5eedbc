/** Progress and messages from the run; the CLI prints them on stderr. */

/** One progress report from a long step (training epochs, unlearning steps, attack iterations). */
export interface ProgressEvent {
  /** What is running, e.g. `seed 1 · gaussian · poisoned`. */
  readonly label: string;
  readonly epoch?: number;
  readonly epochs?: number;
  readonly loss?: number;
  readonly examplesPerSecond?: number;
  /** Fraction of this step done, 0..1. */
  readonly fraction?: number;
  /** Estimated seconds until this step finishes. */
  readonly etaSeconds?: number;
}

/** Where messages go. Plugins log through `ctx.logger`, never `console`. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
  progress(event: ProgressEvent): void;
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = {
  info: () => {},
  warn: () => {},
  debug: () => {},
  progress: () => {},
};

/** A logger that prefixes messages with `label` and forwards to `parent`. */
export function childLogger(parent: Logger, label: string): Logger {
  return {
    info: (message) => parent.info(`${label}: ${message}`),
    warn: (message) => parent.warn(`${label}: ${message}`),
    debug: (message) => parent.debug(`${label}: ${message}`),
    progress: (event) => parent.progress({ ...event, label: `${label} · ${event.label}` }),
  };
}

/** Where the CLI writes text: `process.stdout`, `process.stderr`, or anything with `write`. */
export interface TextSink {
  write(text: string): unknown;
}
