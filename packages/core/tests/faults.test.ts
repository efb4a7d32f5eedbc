/**
 * Results that stay right after faults (issue 20), on real runs of the fixture plugin: divergence
 * detected for every model, the setup hash that keeps experiments apart, checked model caches,
 * plugin versions in the cell identity, plugins that write into shared data, temporaries of live
 * writers, and the output folder's lock.
 */
import * as tf from '@tensorflow/tfjs-core';
import Database from 'better-sqlite3';
import '@tensorflow/tfjs-backend-cpu';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runner, createExamples, createRng, createRootContainer, definePlugin, validateManifest, type EngineInfo, type Experiment, type Logger, type Plugin, type Registry, type ResultRecord, type RunSummary } from '../src/index.ts';
import { FolderLockedError } from '../src/errors.ts';
import { lockFolder, removeStaleTemporaries, writeFileAtomic } from '../src/runner/files.ts';
import { BLOW_UP_FACTOR, divergence } from '../src/runner/guards.ts';
import { ResultsStore } from '../src/runner/store.ts';
import type { CellEvent, RunOptions } from '../src/runner/runner.ts';
import { blobsDataset, linearModel } from '../src/testing/index.ts';
import { REGISTRY } from '../src/tokens.ts';
import { fixturePlugin, fixtureReferences } from './fixture-plugin.ts';

const engine: EngineInfo = { backend: 'cpu', reason: 'test', threads: 1 };
const dirs: string[] = [];
const HOST = hostname().replace(/[^A-Za-z0-9.-]+/g, '_') || 'localhost';

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ub-faults-'));
  dirs.push(dir);
  return dir;
}

function manifest(overrides: Record<string, unknown> = {}) {
  return {
    name: 'faults',
    seeds: [1],
    dataset: { use: 'fx/blobs' },
    model: { use: 'fx/linear' },
    training: { epochs: 5, batchSize: 32, learningRate: 0.1 },
    attacks: [{ use: 'fx/flip' }],
    unlearners: [{ use: 'core/none' }, { use: 'fx/finetune' }],
    budgets: [0.1, 0.2],
    metrics: [{ use: 'fx/accuracy' }, { use: 'fx/poison-rate' }],
    ...overrides,
  };
}

function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`), debug: () => {}, progress: () => {} };
}

async function run(value: object, outDir = tempDir(), plugins: readonly Plugin[] = [fixturePlugin, fixtureReferences], options: Omit<RunOptions, 'outDir'> = {}) {
  const logger = capturingLogger();
  const root = createRootContainer({ plugins, engine, logger });
  const experiment: Experiment = validateManifest(value, root.resolve<Registry>(REGISTRY));
  const summary: RunSummary = await root.resolve(Runner).run(experiment, { ...options, outDir });
  return { summary, outDir, log: logger.lines.join('\n') };
}

const short = (cell: string) => cell.split('#')[0];

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('divergence', () => {
  it('applies the blow-up bound 10·ln(C) to the mean cross-entropy (closed form: zero weights, bias L on a wrong class)', () => {
    // Every example has label 0 and logits (0, L, 0, 0): cross-entropy ln(3 + e^L).
    const batch = createExamples(new Float32Array(8 * 8).fill(0.5), new Int32Array(8), [8]);
    const model = linearModel.create({}, { inputShape: [8], numClasses: 4 }, undefined as never).build(createRng(1));
    const at = (L: number) => {
      model.setWeights([new Float32Array(8 * 4), Float32Array.from([0, L, 0, 0])]);
      return divergence(model, batch);
    };
    const bound = BLOW_UP_FACTOR * Math.log(4);
    expect(bound).toBeCloseTo(13.8629, 4);
    expect(Math.log(3 + Math.exp(13.8))).toBeLessThan(bound);
    expect(at(13.8)).toBeUndefined();
    expect(at(13.95)).toBe(`retain loss ${Math.log(3 + Math.exp(13.95)).toPrecision(4)} above the blow-up bound 10·ln(4) = 13.86`);
    expect(at(0)).toBeUndefined(); // chance level, ln 4
    model.setWeights([new Float32Array(8 * 4), Float32Array.from([0, Number.POSITIVE_INFINITY, 0, 0])]);
    expect(divergence(model, batch)).toBe('non-finite weights');
    model.dispose();
  });

  it('stores a diverged unlearned model as a finished cell with its reason and null metrics; healthy cells are untouched', async () => {
    const { summary, log } = await run(
      manifest({ unlearners: [{ use: 'fx/finetune', label: 'nan', options: { nan: true } }, { use: 'fx/finetune', label: 'huge', options: { scale: 1e4 } }, { use: 'fx/finetune', label: 'good' }] }),
    );
    expect(summary.failures).toEqual([]);
    const byCell = (label: string) => summary.records.filter((r) => r.unlearner === label);
    for (const r of byCell('nan')) {
      expect(r).toMatchObject({ diverged: 'non-finite weights after unlearning', value: null, details: null });
    }
    // One record per per-model metric entry of the manifest (its label), not per result name.
    expect(byCell('nan').map((r) => `${r.budget} ${r.metric}`)).toEqual(['0.1 fx/accuracy', '0.1 fx/poison-rate', '0.2 fx/accuracy', '0.2 fx/poison-rate']);
    for (const r of byCell('huge')) expect(r.diverged).toMatch(/^retain loss \d+(\.\d+)?(e\+\d+)? above the blow-up bound 10·ln\(4\) = 13\.86 after unlearning$/);
    for (const r of [...byCell('good'), ...byCell('none'), ...byCell('retrain')]) {
      expect(r.diverged).toBeNull();
      expect(r.value).toEqual(expect.any(Number));
    }
    expect(byCell('good')).toHaveLength(2 * 3);
    expect(log).toContain('warning: seed 1 · fx/flip · nan @ 10%: diverged (non-finite weights after unlearning); no metric computed');
  });

  it('diverges every cell of a group whose poisoned model diverged in training, with that reason', async () => {
    // Half the labels flipped, inputs of size 1e3 and a learning rate of 100: the poisoned model
    // swings between confidently wrong solutions; the retrained one separates the clean blobs.
    const { summary, log } = await run(
      manifest({ dataset: { use: 'fx/blobs', options: { separation: 1e3 } }, attacks: [{ use: 'fx/flip', options: { count: 200 } }], training: { epochs: 5, batchSize: 32, learningRate: 100 } }),
    );
    expect(summary.failures).toEqual([]);
    const reasons = new Map(summary.records.map((r) => [r.unlearner + (r.budget ?? ''), r.diverged]));
    const own = reasons.get('none')!;
    expect(own, JSON.stringify([...reasons])).toMatch(/^(non-finite (weights|logits|training loss)|retain loss .* above the blow-up bound 10·ln\(4\) = 13\.86) after training$/);
    expect(reasons.get("fx/finetune0.1"), JSON.stringify([...reasons])).toBe(`the poisoned model diverged (${own})`);
    expect(summary.records.every((r) => r.value === null && r.diverged !== null)).toBe(true);
    expect(log).toMatch(/seed 1 · fx\/flip · none: diverged \(.*\); no metric computed/);
  });
});

describe('setup hash', () => {
  it('is equal for one edited manifest (other unlearners, budgets, metrics, seeds) and differs for another recipe or model', async () => {
    const setups = (s: RunSummary) => new Set(s.records.map((r) => r.setup));
    const base = await run(manifest());
    const edited = await run(manifest({ seeds: [2], unlearners: [{ use: 'fx/finetune', label: 'other' }], budgets: [0.3], metrics: [{ use: 'fx/accuracy' }] }));
    const recipe = await run(manifest({ training: { epochs: 6, batchSize: 32, learningRate: 0.1 } }));
    const dataset = await run(manifest({ dataset: { use: 'fx/blobs', options: { separation: 2 } } }));
    expect(setups(base.summary).size).toBe(1);
    const [setup] = setups(base.summary);
    expect(setup).toMatch(/^[0-9a-f]{64}$/);
    expect(setups(edited.summary)).toEqual(new Set([setup]));
    expect(setups(recipe.summary).has(setup)).toBe(false);
    expect(setups(dataset.summary).has(setup)).toBe(false);
    const line = JSON.parse(readFileSync(join(base.outDir, 'results.jsonl'), 'utf8').split('\n')[0]) as ResultRecord;
    expect(line.setup).toBe(setup);
    expect(line.diverged).toBeNull();
  });
});

describe('store format', () => {
  it('refuses a folder of the previous format with what changed and what to do', () => {
    const dir = tempDir();
    const db = new Database(join(dir, 'results.db'));
    db.exec('CREATE TABLE cells (key TEXT PRIMARY KEY)');
    db.pragma('user_version = 1');
    db.close();
    expect(() => new ResultsStore(dir)).toThrow(
      `'${join(dir, 'results.db')}' was written by another version of unlearn-bench (store format 1, this one reads 2; format 2 stores the setup hash, the plugin versions, divergence and warnings with every cell, and a checksum with every cached model). Use a new --out folder, or move the old one away (its results.jsonl stays readable).`,
    );
  });
});

describe('cached reference models', () => {
  it('refuses a truncated or altered weights file, naming it and saying how to retrain', async () => {
    const first = await run(manifest());
    const models = join(first.outDir, 'models');
    const poisoned = readdirSync(models).find((f) => f.endsWith('-poisoned.weights'))!;
    const path = join(models, poisoned);
    const original = readFileSync(path);
    truncateSync(path, original.length - 40);
    // A new unlearner makes the group run again, from the cached models.
    const extra = manifest({ unlearners: [{ use: 'core/none' }, { use: 'fx/finetune' }, { use: 'fx/finetune', label: 'more' }] });
    const truncated = await run(extra, first.outDir);
    expect(truncated.summary.failures.map((f) => short(f.cell))).toEqual(['seed=1/attack=fx/flip/unlearner=more/budget=10%', 'seed=1/attack=fx/flip/unlearner=more/budget=20%']);
    expect(truncated.summary.failures[0].message).toMatch(
      new RegExp(`^The cached poisoned model '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' does not match its record in results\\.db: its sha256 is [0-9a-f]{12}…, but [0-9a-f]{12}… was stored with it \\(\\d+ bytes: truncated or overwritten\\?\\)\\. Delete the file \\('rm .*'\\) and rerun to retrain it\\.$`),
    );
    const altered = Buffer.from(original);
    altered[altered.length - 1] ^= 0xff;
    writeFileSync(path, altered);
    const flipped = await run(extra, first.outDir);
    expect(flipped.summary.failures).toHaveLength(2);
    expect(flipped.summary.failures[0].message).toContain('does not match its record');
    // Deleting the file, as the message says, retrains it: the same numbers as before.
    rmSync(path);
    const retrained = await run(extra, first.outDir);
    expect(retrained.summary.failures).toEqual([]);
    expect(readFileSync(path)).toEqual(original);
  });
});

describe('plugin versions', () => {
  it('recomputes (and replaces) the cells and models a plugin made when its version changes', async () => {
    const first = await run(manifest());
    const again = await run(manifest(), first.outDir);
    expect(again.summary.cellsSkipped).toBe(4);
    const bumped = definePlugin({ ...fixturePlugin, meta: { ...fixturePlugin.meta, version: '0.0.2' } });
    const second = await run(manifest(), first.outDir, [bumped, fixtureReferences]);
    expect(second.summary.cellsSkipped).toBe(0);
    expect(second.summary.cellsComputed).toBe(4);
    expect(second.log).toContain('4 cell(s) in');
    expect(second.log).toContain('were computed by other plugin versions ({"fixture":"0.0.1"}, now {"fixture":"0.0.2"}); recomputing them');
    expect(second.log).not.toContain('loaded from'); // the references were retrained, not reused
    const store = new ResultsStore(first.outDir);
    try {
      expect(store.records()).toHaveLength(4 * 3); // replaced, not duplicated
    } finally {
      store.close();
    }
  });
});

describe('shared data', () => {
  it('fails an unlearner that writes into the retain set, restores the data, and leaves the other cells as in a clean run', async () => {
    const dirty = await run(manifest({ unlearners: [{ use: 'fx/finetune', label: 'vandal', options: { mutate: true } }, { use: 'fx/finetune', label: 'good' }] }));
    const clean = await run(manifest({ unlearners: [{ use: 'fx/finetune', label: 'good' }] }));
    expect(dirty.summary.failures.map((f) => short(f.cell))).toEqual(['seed=1/attack=fx/flip/unlearner=vandal/budget=10%', 'seed=1/attack=fx/flip/unlearner=vandal/budget=20%']);
    expect(dirty.summary.failures[0].message).toBe(
      'fx/finetune failed in unlearn: changed data it was given in place (retain.inputs); the runner restored it for the other cells. Work on copies, e.g. Float32Array.from(retain.inputs).',
    );
    const values = (s: RunSummary, label: string) => s.records.filter((r) => r.unlearner === label).map((r) => [r.cell, r.metric, r.value]);
    expect(values(dirty.summary, 'good')).toEqual(values(clean.summary, 'good'));
    expect(values(dirty.summary, 'good')).toHaveLength(6);
  });
});

describe('a plugin that calls process.exit', () => {
  it('fails its cell with a message instead of ending the run; process.exit is restored after the run', async () => {
    const exit = process.exit;
    const { summary } = await run(manifest({ unlearners: [{ use: 'fx/finetune', label: 'quitter', options: { exit: true } }, { use: 'fx/finetune', label: 'good' }] }));
    expect(summary.failures.map((f) => short(f.cell))).toEqual(['seed=1/attack=fx/flip/unlearner=quitter/budget=10%', 'seed=1/attack=fx/flip/unlearner=quitter/budget=20%']);
    expect(summary.failures[0].message).toBe('fx/finetune failed in unlearn: called process.exit(0); a plugin must throw an error instead of ending the process');
    expect(summary.records.filter((r) => r.unlearner === 'good')).toHaveLength(6);
    expect(process.exit).toBe(exit);
  });
});

/** A PID that no longer exists (a child that has exited). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('temporary files', () => {
  it('removes only the temporaries whose writer is gone, every time', async () => {
    const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      for (let round = 0; round < 3; round++) {
        const dir = tempDir();
        const dead = await deadPid();
        const names = {
          live: `run.json.tmp-${HOST}-${live.pid}`,
          self: `results.jsonl.tmp-${HOST}-${process.pid}`,
          dead: `run.json.tmp-${HOST}-${dead}`,
          oldFormat: `results.jsonl.tmp-${dead}`,
          otherHost: `run.json.tmp-elsewhere.example-${dead}`,
        };
        for (const name of Object.values(names)) writeFileSync(join(dir, name), 'partial');
        expect(removeStaleTemporaries([dir]).sort()).toEqual([names.dead, names.oldFormat].sort());
        expect(readdirSync(dir).sort()).toEqual([names.live, names.self, names.otherHost].sort());
      }
    } finally {
      live.kill();
    }
  });

  it('leaves run.json and summary.jsonl to the whole run: a worker (groups) writes neither', async () => {
    const value = manifest({ seeds: [1, 2] });
    const logger = capturingLogger();
    const root = createRootContainer({ plugins: [fixturePlugin, fixtureReferences], engine, logger });
    const experiment = validateManifest(value, root.resolve<Registry>(REGISTRY));
    const outDir = tempDir();
    await Promise.all([root.resolve(Runner).run(experiment, { outDir, groups: [0] }), root.resolve(Runner).run(experiment, { outDir, groups: [1] })]);
    expect(existsSync(join(outDir, 'run.json'))).toBe(false);
    expect(existsSync(join(outDir, 'summary.jsonl'))).toBe(false);
    expect(existsSync(join(outDir, 'results.jsonl'))).toBe(true);
  });
});

describe('disk full', () => {
  // The temporary file of this process is made a link to /dev/full, whose writes fail with ENOSPC.
  const fill = (path: string) => symlinkSync('/dev/full', `${path}.tmp-${HOST}-${process.pid}`);

  it('says "disk full (ENOSPC) while writing <file>"', () => {
    const path = join(tempDir(), 'run.json');
    fill(path);
    expect(() => writeFileAtomic(path, '{}')).toThrow(`disk full (ENOSPC) while writing '${path}'; the results stored before are kept. Free some space and rerun to continue.`);
    expect(readdirSync(join(path, '..'))).toEqual([]); // no temporary left behind
  });

  it('does not report a cell as failed when it was stored and only appending it to results.jsonl failed', async () => {
    const outDir = tempDir();
    const exported = join(outDir, 'results.jsonl');
    // While the first cell computes, results.jsonl becomes a link to /dev/full: its append fails with ENOSPC.
    let first = true;
    const onCell = (event: CellEvent) => {
      if (event.type === 'start' && first) {
        first = false;
        rmSync(exported, { force: true });
        symlinkSync('/dev/full', exported);
      } else if (event.type === 'end' && lstatSync(exported).isSymbolicLink()) {
        rmSync(exported);
      }
    };
    const { summary, log } = await run(manifest(), outDir, undefined, { onCell });
    expect(summary.failures).toEqual([]);
    expect(summary.cellsComputed).toBe(4);
    expect(log).toMatch(/warning: cell seed=1\/attack=fx\/flip\/unlearner=none\/budget=-#[0-9a-f]{12} is stored in results\.db, but then: disk full \(ENOSPC\) while writing '.*results\.jsonl'/);
    expect(readFileSync(exported, 'utf8').trim().split('\n')).toHaveLength(4 * 3); // the rewrite at the end has every cell
  });

  it('runs on when results.jsonl cannot be rewritten before the run, and rewrites it at the end', async () => {
    const outDir = tempDir();
    fill(join(outDir, 'results.jsonl'));
    const { summary, log } = await run(manifest(), outDir);
    expect(summary.failures).toEqual([]);
    // (Nothing to write yet, so the link to /dev/full fails at fsync, EINVAL, rather than with ENOSPC.)
    expect(log).toMatch(/warning: results\.jsonl was not rewritten before the run \(.+\); its cells are appended to it as it is, and it is rewritten when the run ends/);
    expect(readFileSync(join(outDir, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4 * 3);
  });
});

describe('folder lock', () => {
  it('refuses a second run into a folder in use, naming the holder; takes over the lock of a dead process', async () => {
    const dir = tempDir();
    const lock = lockFolder(dir);
    expect(() => lockFolder(dir)).toThrow(FolderLockedError);
    await expect(run(manifest(), dir)).rejects.toThrow(
      new RegExp(`^The output folder '${dir}' is in use by process ${process.pid} on host ${HOST.replace(/\./g, '\\.')} \\(since [0-9T:.Z-]+\\)\\. Wait for that run to finish, or give this one another --out folder\\.`),
    );
    lock.release();
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);
    for (let round = 0; round < 3; round++) {
      writeFileSync(join(dir, 'run.lock'), JSON.stringify({ pid: await deadPid(), host: HOST, since: 'earlier' }));
      const { summary } = await run(manifest({ seeds: [round + 1] }), dir);
      expect(summary.failures).toEqual([]);
      expect(existsSync(join(dir, 'run.lock'))).toBe(false); // released at the end
    }
    writeFileSync(join(dir, 'run.lock'), JSON.stringify({ pid: 1, host: 'elsewhere.example', since: 'earlier' }));
    expect(() => lockFolder(dir)).toThrow(/in use by process 1 on host elsewhere\.example/);
  });
});
