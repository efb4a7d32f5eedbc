#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader (the workspace ships TypeScript). The tsconfig
// (the repository's) is named explicitly so decorators compile whatever the working directory is.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
