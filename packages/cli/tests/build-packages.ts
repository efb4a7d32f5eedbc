/**
 * Vitest global setup of the CLI package: builds every package to JavaScript + declarations once
 * before the end-to-end tests (incremental `tsc -b`, a few seconds when nothing changed). The
 * publishing test packs the result; the scaffold test's generated plugin imports core as an
 * outside package would, through its compiled entry.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function setup(): void {
  const root = resolve(import.meta.dirname, '../../..');
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli/tsconfig.build.json', 'plugins/example-unlearner/tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
