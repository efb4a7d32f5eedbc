/** Entry of the `unlearn-bench` bin: core's CLI with the built-in plugins and the TF.js engine. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runCli, type StandbyWorker } from '@unlearn-bench/core';
import { createEngine } from '@unlearn-bench/models';
import { builtinPlugins } from './builtins.ts';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Runs the CLI; resolves to the exit code. `options.standby`: a worker process the bin started ahead of need. */
export function main(argv: readonly string[], options: { readonly standby?: StandbyWorker } = {}): Promise<number> {
  return runCli(argv, {
    plugins: builtinPlugins,
    createEngine: (backend) => createEngine({ backend }),
    stdout: process.stdout,
    stderr: process.stderr,
    version,
    binPath: fileURLToPath(new URL('../bin/unlearn-bench.js', import.meta.url)),
    ownsProcess: true,
    standby: options.standby,
  });
}
