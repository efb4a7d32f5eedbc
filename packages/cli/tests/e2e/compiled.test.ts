/**
 * The bin of a source checkout runs the compiled packages only while every one's build is newer
 * than its sources (bin/compiled.js), so an edit is never run stale.
 */
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript next to the bin, without declarations
import { compiledIsCurrent } from '../../bin/compiled.js';
import { runBin, tempDir } from './helpers.ts';

const PACKAGES = ['core', 'models', 'attacks', 'unlearners', 'metrics', 'cli'];

/** A checkout's skeleton: every input at time 1000 s, every build record at 2000 s. */
function checkout(): string {
  const root = tempDir('ub-compiled-');
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
  for (const file of ['tsconfig.base.json', 'tsconfig.build.base.json']) {
    writeFileSync(join(root, file), '{}');
    at(join(root, file), 1000);
  }
  for (const name of PACKAGES) {
    const folder = join(root, 'packages', name);
    mkdirSync(join(folder, 'src', 'inner'), { recursive: true });
    mkdirSync(join(folder, 'dist'), { recursive: true });
    for (const file of ['package.json', 'tsconfig.build.json', 'src/index.ts', 'src/inner/a.ts', 'src/inner/a.test.ts']) writeFileSync(join(folder, file), '');
    for (const path of ['package.json', 'tsconfig.build.json', 'src/index.ts', 'src/inner/a.ts', 'src/inner/a.test.ts', 'src/inner', 'src']) at(join(folder, path), 1000);
    writeFileSync(join(folder, 'dist', '.tsbuildinfo'), '');
    at(join(folder, 'dist', '.tsbuildinfo'), 2000);
  }
  return root;
}

describe('compiledIsCurrent', () => {
  it('is true only while every build is newer than all its inputs', () => {
    const root = checkout();
    expect(compiledIsCurrent(root)).toBe(true);
    // A test file does not count (the build leaves tests out).
    utimesSync(join(root, 'packages/models/src/inner/a.test.ts'), 3000, 3000);
    expect(compiledIsCurrent(root)).toBe(true);
    // Each of these sends the CLI back to the sources.
    const cases: [string, (tree: string) => void][] = [
      ['an edited source', (tree) => utimesSync(join(tree, 'packages/metrics/src/inner/a.ts'), 3000, 3000)],
      ['an edited package.json', (tree) => utimesSync(join(tree, 'packages/core/package.json'), 2000, 2000)],
      ['an edited shared tsconfig', (tree) => utimesSync(join(tree, 'tsconfig.base.json'), 2500, 2500)],
      ['a removed file (its folder changes)', (tree) => rmSync(join(tree, 'packages/cli/src/inner/a.ts'))],
      ['a missing build', (tree) => rmSync(join(tree, 'packages/attacks/dist/.tsbuildinfo'))],
    ];
    for (const [what, change] of cases) {
      const tree = checkout();
      expect(compiledIsCurrent(tree), what).toBe(true);
      change(tree);
      expect(compiledIsCurrent(tree), what).toBe(false);
    }
    expect(compiledIsCurrent(join(root, 'missing'))).toBe(false);
  });

  it('the bin says which it runs, and worker processes run the same', async () => {
    const forced = await runBin(['--version', '--debug'], { env: { UNLEARN_BENCH_USE_DIST: '0' } }).done;
    expect(forced.stderr).toContain('debug: running the TypeScript sources through tsx');
    const compiled = await runBin(['--version', '--debug'], { env: { UNLEARN_BENCH_USE_DIST: '1' } }).done;
    expect(compiled.stderr).toContain('debug: running the compiled packages (dist/)');
  });
});
