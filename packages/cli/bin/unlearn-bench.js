#!/usr/bin/env node
// The `unlearn-bench` command. Installed from npm, it runs the compiled JavaScript in ../dist.
// In a source checkout (../src exists), it runs the TypeScript sources through tsx instead, and
// resolves our packages' `@unlearn-bench/source` export condition so no build is ever needed
// there, unless every package's dist/ is newer than its sources (compiled.js; `npm ci` builds
// them): then it runs those. UNLEARN_BENCH_USE_DIST=1 or 0 forces either. Compiled, it registers
// tsx's loader only when a plugin written in TypeScript is imported (tsx's module hooks make every
// later import slower: about 0.7 s of start-up).
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { compiledIsCurrent } from './compiled.js';
import { runOrder, STANDBY_FLAG, startStandby, startsWorkers } from './standby.js';

const sourceMain = new URL('../src/main.ts', import.meta.url);
const forced = process.env.UNLEARN_BENCH_USE_DIST;
const fromSource =
  existsSync(sourceMain) && (forced === '0' || (forced !== '1' && !compiledIsCurrent(fileURLToPath(new URL('../../..', import.meta.url)))));
// Worker processes (started with this environment) run what this process runs.
process.env.UNLEARN_BENCH_USE_DIST = fromSource ? '0' : '1';

// A run that will compute in a worker process starts that worker now, so that it loads its modules
// while this process loads its own (see standby.js).
const args = process.argv.slice(2);
const order = args[0] === STANDBY_FLAG ? runOrder() : undefined;
const standby = !order && startsWorkers(args, process.env) ? startStandby(fileURLToPath(import.meta.url)) : undefined;
if (standby && args.includes('--debug')) process.stderr.write(`debug: started a standby worker process (pid ${standby.pid})\n`);
if (args.includes('--debug') && !order) process.stderr.write(`debug: running the ${fromSource ? 'TypeScript sources through tsx' : 'compiled packages (dist/)'}\n`);
if (fromSource) {
  const { register: registerTsx } = await import('tsx/esm/api');
  // The repository's tsconfig is named explicitly so decorators compile whatever the working directory.
  registerTsx({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
  // Registered after tsx, so it runs first and hands tsx the extra condition.
  registerHooks('./source-condition.js', import.meta.url);
} else {
  const { setTypeScriptLoader } = await import('@unlearn-bench/core');
  let registered;
  setTypeScriptLoader(async () => {
    registered ??= import('tsx/esm/api').then(({ register }) => {
      register();
    });
    await registered;
  });
}
const { main } = await import(fromSource ? sourceMain.href : new URL('../dist/main.js', import.meta.url).href);
if (order) {
  const { argv, env } = await order;
  Object.assign(process.env, env);
  process.exitCode = await main(argv);
} else {
  try {
    process.exitCode = await main(args, { standby });
  } finally {
    standby?.release();
  }
}
