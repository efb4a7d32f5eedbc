// A worker process started ahead of need. A run that computes in worker processes (every `run`
// the bin starts, unless --in-process, --groups or --queue) spends its first second or so loading
// modules in the parent, then starts a worker that spends as long loading the same modules. The bin
// starts one worker at once, with STANDBY_FLAG: it loads the modules while the parent loads its
// own and prepares the run, then waits for its command line over IPC (`runOrder`); the parent's
// first worker is this process (see StandbyWorker in @unlearn-bench/core), and an unused one is
// killed when the parent's run ends. Measured on 2 cores: the quickstart's first seed as a command
// took 9.7-9.9 s against 10.5-11.2 s without it (bench/README.md, round 4).
import { spawn } from 'node:child_process';

/** The argument that makes the bin a standby worker. */
export const STANDBY_FLAG = '--standby-worker';

/** The IPC message that hands a standby its command line and environment. */
export const RUN_ORDER = 'unlearn-bench-run-order';

/** Whether the bin's `argv` is a run that starts worker processes. */
export function startsWorkers(argv, env) {
  if (argv[0] !== 'run' || env.UNLEARN_BENCH_IN_PROCESS === '1' || env.UNLEARN_BENCH_STANDBY === '0') return false;
  return !argv.some((arg) => ['--in-process', '--groups', '--queue', '--help', '-h'].includes(arg.split('=')[0]));
}

/** Starts a standby of `binPath`; returns the StandbyWorker its parent's run claims. */
export function startStandby(binPath) {
  const child = spawn(process.execPath, [binPath, STANDBY_FLAG], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: process.env });
  // A standby that died while loading (a Ctrl-C to the process group) fails its run order's send
  // with an 'error' event, which must not end the parent: workers.ts sees the process close instead.
  child.on('error', () => {});
  let claimed = false;
  return {
    pid: child.pid,
    claim(argv, env) {
      // One that ended (a crash while loading, a Ctrl-C) is not used: the run starts a fresh worker.
      if (claimed || child.exitCode !== null || child.signalCode !== null || !child.connected) return undefined;
      claimed = true;
      child.send({ type: RUN_ORDER, argv, env });
      return child;
    },
    release() {
      if (!claimed && child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}

/**
 * In a standby: resolves to the parent's run order `{ argv, env }`. Listens at once (a message
 * that arrives before a listener is lost); exits if the parent goes before it sends one.
 */
export function runOrder() {
  return new Promise((resolve) => {
    const onDisconnect = () => process.exit(0);
    const onMessage = (message) => {
      if (message?.type !== RUN_ORDER) return;
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve(message);
    };
    process.on('message', onMessage);
    process.on('disconnect', onDisconnect);
  });
}
