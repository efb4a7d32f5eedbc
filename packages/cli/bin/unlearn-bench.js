#!/usr/bin/env node
// The `unlearn-bench` command. Installed from npm, it runs the compiled JavaScript in ../dist.
// In a source checkout (../src exists), it runs the TypeScript sources through tsx instead, and
// resolves our packages' `@unlearn-bench/source` export condition so no build is ever needed
// there. Either way tsx's loader is registered, so plugins written in TypeScript load too.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';

const sourceMain = new URL('../src/main.ts', import.meta.url);
const fromSource = existsSync(sourceMain) && process.env.UNLEARN_BENCH_USE_DIST !== '1';
if (fromSource) {
  // The repository's tsconfig is named explicitly so decorators compile whatever the working directory.
  registerTsx({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
  // Registered after tsx, so it runs first and hands tsx the extra condition.
  registerHooks('./source-condition.js', import.meta.url);
} else {
  registerTsx();
}
const { main } = await import(fromSource ? sourceMain.href : new URL('../dist/main.js', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
