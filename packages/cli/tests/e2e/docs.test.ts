/** Every TypeScript sample in docs/PLUGINS.md compiles against the real core. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers.ts';

const dir = mkdtempSync(join(resolve(import.meta.dirname), '.tmp-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/PLUGINS.md', () => {
  it('has TypeScript samples that type-check', () => {
    const text = readFileSync(join(repoRoot, 'docs/PLUGINS.md'), 'utf8');
    const samples = [...text.matchAll(/```ts file=([\w.-]+)\n([\s\S]*?)```/g)];
    expect(samples.length).toBeGreaterThanOrEqual(3);
    for (const [, file, code] of samples) writeFileSync(join(dir, file), code);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(repoRoot, 'tsconfig.base.json'), compilerOptions: { noEmit: true, noUnusedLocals: true }, include: ['*.ts'] }),
    );
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const result = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
