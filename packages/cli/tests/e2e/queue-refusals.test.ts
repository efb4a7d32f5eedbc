/**
 * Queue workers and jobs they must not compute (issue 16): a worker whose plugin has another
 * version, or that cannot load the manifest's plugin, puts the job back and stops with exit 2 and
 * the reason (the coordinator shows it), and a matching worker then computes it; a job that is not
 * an unlearn-bench job is failed with a message while the worker goes on; a job from another
 * unlearn-bench version is refused.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from './concurrency.ts';
import { runBin, tempDir } from './helpers.ts';
import { haveRedis, startRedis } from './redis.ts';

const { version } = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };

// Inside the repository, so the plugin's import of @unlearn-bench/core resolves.
const root = mkdtempSync(join(import.meta.dirname, '.tmp-queue-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A folder as a machine of the test sees it: exp/plugin.mjs at `pluginVersion` (none: no plugin), and the manifest. */
function machine(name: string, pluginVersion: string | undefined): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'exp'), { recursive: true });
  if (pluginVersion) {
    const source = readFileSync(resolve(import.meta.dirname, 'fixtures/plugins/scaled-gd.mjs'), 'utf8');
    writeFileSync(join(dir, 'exp/plugin.mjs'), source.replace("version: '1.0.0'", `version: '${pluginVersion}'`));
  }
  writeFileSync(
    join(dir, 'exp/manifest.json'),
    JSON.stringify({
      name: 'queue-refusals',
      plugins: ['./plugin.mjs'],
      seeds: [1],
      dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 200, testSize: 50 } },
      model: { use: 'core/mlp', options: { hidden: [8] } },
      training: { epochs: 2, batchSize: 32, learningRate: 0.05 },
      attacks: [{ use: 'core/gaussian', options: { count: 10, sigma: 0.5 } }],
      unlearners: [{ use: 'lab/scaled-gd' }],
      budgets: [0.2],
      metrics: [{ use: 'core/accuracy' }],
    }),
  );
  return dir;
}

function start(argv: string[], cwd: string) {
  let text = '';
  const proc = runBin(argv, { cwd, env: { TMPDIR: tempDir() }, onStderr: (t) => (text = t) });
  return { ...proc, output: () => text };
}

describe.skipIf(!haveRedis)('queue workers refuse what they would compute differently', () => {
  it('puts a job back when a plugin version differs or a plugin is missing, fails a payload that is no job, and refuses another unlearn-bench version', async () => {
    const redis = await startRedis();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue('unlearn-bench', { connection });
    let coordinator: ReturnType<typeof start> | undefined;
    let good: ReturnType<typeof start> | undefined;
    try {
      const coordinatorDir = machine('coordinator', '1.0.0');
      const newer = machine('newer', '1.0.1');
      const bare = machine('bare', undefined);
      cpSync(coordinatorDir, join(root, 'same'), { recursive: true });
      const same = join(root, 'same');
      // Something else put a job on the queue before the run: the first worker meets it first.
      await queue.add('group', { hello: 'world' }, { jobId: 'not-a-group' });
      const worker = (cwd: string) => start(['worker', '--queue', redis.url, '--stall-seconds', '2'], cwd);
      coordinator = start(['run', 'exp/manifest.json', '--out', 'out', '--queue', redis.url, '--no-report'], coordinatorDir);

      const fromNewer = await worker(newer).done;
      expect(fromNewer.code).toBe(2);
      expect(fromNewer.stderr).toContain("warning: job not-a-group is not an unlearn-bench group job (its data has no 'format' (its properties: hello)); failed it\n");
      expect(fromNewer.stderr).toMatch(
        /error: refused job \S+ \(seed 1 · gaussian of \S+:\S+\/out\): scaled-gd-fixture is 1\.0\.1 here, 1\.0\.0 at the coordinator\. A worker computes only with the versions the coordinator planned with: install the same versions here\.\nThe job went back to the queue for other workers; this worker stopped\.\n/,
      );
      const failed = (await queue.getJob('not-a-group'))!;
      expect(await failed.getState()).toBe('failed');
      expect(failed.failedReason).toBe("not an unlearn-bench group job: its data has no 'format' (its properties: hello). Jobs on the queue 'unlearn-bench' are made by 'unlearn-bench run --queue'.");

      const fromBare = await worker(bare).done;
      expect(fromBare.code).toBe(2);
      expect(fromBare.stderr).toContain(
        `: plugins[0]: Plugin './plugin.mjs' failed to load: ${join(bare, 'exp/plugin.mjs')} does not exist (a worker looks for the manifest's plugins relative to ${join(bare, 'exp')}: the manifest's folder 'exp' under its own working directory; start it where the coordinator's files are, or install the plugin there).\n`,
      );

      good = worker(same);
      const result = await coordinator.done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('3 cell(s) computed, 0 skipped (finished earlier), 0 failed');
      expect(result.stderr).toMatch(/warning: worker \S+:\d+ refused seed 1 · gaussian and stopped: scaled-gd-fixture is 1\.0\.1 here, 1\.0\.0 at the coordinator/);
      expect(result.stderr).toMatch(/warning: worker \S+:\d+ refused seed 1 · gaussian and stopped: plugins\[0\]: Plugin '\.\/plugin\.mjs' failed to load/);

      // A job from a coordinator of another unlearn-bench version: refused, back on the queue.
      const foreign = { ...foreignPayload(coordinatorDir), versions: { 'unlearn-bench': '0.0.0-other' } };
      await queue.add('group', foreign, { jobId: 'foreign' });
      expect(await waitFor(() => good!.output().includes('refused job foreign'), 60), good.output()).toBe(true);
      const refused = await good.done;
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`error: refused job foreign (seed 1 · gaussian of elsewhere:/runs/x): the coordinator runs unlearn-bench 0.0.0-other, this worker ${version}: start workers of the same version.`);
      expect(await (await queue.getJob('foreign'))!.getState()).toBe('waiting');
    } finally {
      coordinator?.kill('SIGKILL');
      good?.kill('SIGKILL');
      await queue.close();
      connection.disconnect();
    }
  });
});

/** A well-formed job payload for `dir`'s manifest from a coordinator elsewhere. */
function foreignPayload(dir: string): object {
  return {
    format: 1,
    run: '0123456789abcdef',
    coordinator: { host: 'elsewhere', pid: 1, outDir: '/runs/x' },
    versions: {},
    manifest: { text: readFileSync(join(dir, 'exp/manifest.json'), 'utf8'), path: 'exp/manifest.json', hash: '0'.repeat(64) },
    backend: 'wasm',
    engine: 'wasm',
    group: { index: 0, key: 'seed=1/attack=gaussian#000000000000', label: 'seed 1 · gaussian' },
    cells: ['seed=1/attack=gaussian/unlearner=none/budget=-#000000000000'],
    models: [],
  };
}
