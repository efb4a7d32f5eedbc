/**
 * The source-checkout resolve hook (bin/source-condition.js): our packages resolve to their
 * TypeScript sources, a package outside the checkout resolves as Node would, even when it names the
 * same export condition (an installed @unlearn-bench/core ships dist/ only).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from './helpers.ts';

const hook = pathToFileURL(resolve(import.meta.dirname, '../../bin/source-condition.js')).href;
const outside = tempDir('ub-source-condition-');
afterAll(() => rmSync(outside, { recursive: true, force: true }));

/** What `specifiers` resolve to from `cwd` with the hook registered. */
function resolved(cwd: string, specifiers: string[]): string[] {
  const script = `import { register } from 'node:module'; register(${JSON.stringify(hook)}); for (const s of ${JSON.stringify(specifiers)}) console.log(import.meta.resolve(s));`;
  // CI sets both FORCE_COLOR and NO_COLOR, about which Node warns on stderr; that is not the hook's output.
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  expect(result.stderr).toBe('');
  return result.stdout.trim().split('\n');
}

describe('the source-condition resolve hook', () => {
  it('resolves our packages to src/ inside the checkout and a package outside it as Node does', () => {
    // An installed package that names the condition for files it ships in dist/ only.
    const pkg = join(outside, 'node_modules/@unlearn-bench/core');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@unlearn-bench/core', type: 'module', exports: { '.': { '@unlearn-bench/source': './src/index.ts', default: './dist/index.js' } } }));
    writeFileSync(join(pkg, 'dist/index.js'), 'export {};\n');
    expect(resolved(outside, ['@unlearn-bench/core'])).toEqual([pathToFileURL(join(pkg, 'dist/index.js')).href]);
    // Even when the outside package does ship the file the condition names.
    mkdirSync(join(pkg, 'src'));
    writeFileSync(join(pkg, 'src/index.ts'), 'export {};\n');
    expect(resolved(outside, ['@unlearn-bench/core'])).toEqual([pathToFileURL(join(pkg, 'dist/index.js')).href]);

    const [core, models] = resolved(join(repoRoot, 'packages/cli'), ['@unlearn-bench/core', '@unlearn-bench/models']);
    expect(core).toBe(pathToFileURL(join(repoRoot, 'packages/core/src/index.ts')).href);
    expect(models).toBe(pathToFileURL(join(repoRoot, 'packages/models/src/index.ts')).href);
  });
});
