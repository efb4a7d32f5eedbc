/**
 * A worker process its parent started ahead of need (the bin's standby.js), which has loaded its
 * modules and waits for its command line. In a file of its own, without Node's types, because the
 * CLI's host options (public) name it.
 */
export interface StandbyWorker {
  /**
   * Hands the standby `argv` (the CLI's arguments, without node and the script) and `env` (its
   * whole environment); returns its ChildProcess (typed loosely here so that the public
   * declarations need no Node types), or undefined if it was claimed already or has ended (then
   * the caller starts a worker itself).
   */
  claim(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): object | undefined;
}
