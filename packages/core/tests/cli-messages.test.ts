/**
 * Every stop has a message (issue 20), through the real CLI in this process with the fixture
 * plugin: inputs `validate` catches or accepts, `report` on folders with failed or no finished
 * cells, and a damaged results store.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type EngineInfo } from '../src/index.ts';
import { fixturePlugin, fixtureReferences } from './fixture-plugin.ts';

const engine: EngineInfo = { backend: 'cpu', reason: 'test', threads: 1 };
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ub-cli-'));
  dirs.push(dir);
  return dir;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, {
    plugins: [fixturePlugin, fixtureReferences],
    createEngine: async () => engine,
    stdout: stdout as unknown as NodeJS.WritableStream,
    stderr: stderr as unknown as NodeJS.WritableStream,
    version: 'test',
    binPath: 'unused',
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function manifestFile(overrides: Record<string, unknown> = {}, prefix = ''): string {
  const path = join(tempDir(), 'manifest.json');
  const value = {
    name: 'messages',
    seeds: [1],
    dataset: { use: 'fx/blobs' },
    model: { use: 'fx/linear' },
    training: { epochs: 3, batchSize: 32, learningRate: 0.1 },
    attacks: [{ use: 'fx/flip' }],
    unlearners: [{ use: 'fx/finetune' }],
    budgets: [0.1],
    metrics: [{ use: 'fx/accuracy' }],
    ...overrides,
  };
  writeFileSync(path, prefix + JSON.stringify(value, null, 2));
  return path;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('validate', () => {
  it('accepts a manifest that starts with a UTF-8 byte-order mark', async () => {
    const { code, stdout } = await cli(['validate', manifestFile({}, '\uFEFF')]);
    expect(code).toBe(0);
    expect(stdout).toContain(': valid (messages;');
  });

  it("refuses an unlearner labelled like a reference row ('none', 'retrain')", async () => {
    const path = manifestFile({ unlearners: [{ use: 'fx/finetune', label: 'none' }, { use: 'fx/finetune', label: 'retrain' }] });
    const { code, stderr } = await cli(['validate', path]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      `error: Invalid manifest ${path}:\n` +
        "  - unlearners[0].label: 'none' is the label of the poisoned model's row; fx/finetune needs another label.\n" +
        "  - unlearners[1].label: 'retrain' is the label of the retrained model's row; fx/finetune needs another label.\n",
    );
  });

  it('refuses budgets that print identically', async () => {
    const path = manifestFile({ budgets: [0.05, 0.0500000001] });
    const { code, stderr } = await cli(['validate', path]);
    expect(code).toBe(2);
    expect(stderr).toContain('  - budgets[1]: 0.0500000001 prints as 5%, like budgets[0] (0.05). Remove one of them, or make them differ.');
  });

  it('refuses deeply nested options with a message, not a stack overflow', async () => {
    const depth = 20000;
    const path = join(tempDir(), 'deep.json');
    const text = JSON.stringify(JSON.parse(readFileSync(manifestFile(), 'utf8')), null, 2).replace('"use": "fx/finetune"', `"use": "fx/finetune", "options": ${'{"x":'.repeat(depth)}1${'}'.repeat(depth)}`);
    writeFileSync(path, text);
    const { code, stderr } = await cli(['validate', path]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^error: Invalid manifest .*:\n {2}- line \d+, column \d+: nested more than 100 levels deep; a manifest \(options included\) may nest at most 100 levels\.\n$/);
  });

  it('says in its help that it runs plugin code', async () => {
    const { stdout } = await cli(['--help']);
    expect(stdout).toContain('It imports the plugin modules the manifest names, which runs');
  });
});

describe('run --out', () => {
  it("refuses '' and a path to a file, with exit 2", async () => {
    const manifest = manifestFile();
    const empty = await cli(['run', manifest, '--out', '', '--workers', '1']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe("error: --out needs a folder, got ''.\n");
    const file = join(tempDir(), 'results.txt');
    writeFileSync(file, 'not a folder');
    const onFile = await cli(['run', manifest, `--out=${file}`, '--workers', '1']);
    expect(onFile.code).toBe(2);
    expect(onFile.stderr).toBe(`error: --out '${file}' is a file, not a folder. Give a folder (it is created if missing).\n`);
  });
});

describe('report', () => {
  it('lists the failed cells, and on a folder with no finished cell says so (exit 2)', async () => {
    const out = tempDir();
    // The attack fails: no cell finishes.
    const failing = manifestFile({ attacks: [{ use: 'fx/flip', options: { fail: true } }] });
    const run = await cli(['run', failing, '--out', out, '--workers', '1', '--quiet']);
    expect(run.code).toBe(1);
    const { code, stderr, stdout } = await cli(['report', out]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^failed \(not finished\): seed=1\/attack=fx\/flip\/unlearner=fx\/finetune\/budget=10%#[0-9a-f]{12}: fx\/flip failed in poison: boom\n/m);
    expect(stderr).toContain(`error: No finished cell in '${out}' (3 failed, listed above). Run its manifest with --out ${out} to compute them.\n`);

    // A run that finishes some cells: the report shows them and still lists the failed ones.
    const mixed = manifestFile({ unlearners: [{ use: 'fx/finetune', label: 'bad', options: { fail: true } }] });
    const out2 = tempDir();
    expect((await cli(['run', mixed, '--out', out2, '--workers', '1', '--quiet'])).code).toBe(1);
    const partial = await cli(['report', out2]);
    expect(partial.code).toBe(0);
    expect(partial.stdout).toContain('attack: fx/flip');
    expect(partial.stderr).toMatch(/^failed \(not finished\): seed=1\/attack=fx\/flip\/unlearner=bad\/budget=10%#[0-9a-f]{12}: fx\/finetune failed in unlearn: unlearner exploded$/m);
  });

  it('names a damaged results.db and says that results.jsonl still holds the finished cells', async () => {
    const out = tempDir();
    writeFileSync(join(out, 'results.db'), 'this is not an SQLite file, just text long enough to look like a header'.repeat(20));
    const { code, stderr } = await cli(['report', out]);
    expect(code).toBe(1);
    expect(stderr).toContain(`error: '${join(out, 'results.db')}' is damaged (file is not a database). The finished cells are also in '${join(out, 'results.jsonl')}'`);
  });
});
