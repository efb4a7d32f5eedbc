/**
 * The HTML report (issue 17) of a small real run, opened in headless Debian chromium through
 * playwright-core: the charts render, nothing is requested but the file itself, no console error.
 * Without chromium the browser test is skipped, unless UNLEARN_BENCH_REQUIRE_BROWSER=1 (CI).
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInProcess, tempDir, writeManifest } from './helpers.ts';

const executablePath = process.env.UNLEARN_BENCH_CHROMIUM ?? '/usr/bin/chromium';
const haveBrowser = existsSync(executablePath);
if (!haveBrowser && process.env.UNLEARN_BENCH_REQUIRE_BROWSER === '1') throw new Error(`UNLEARN_BENCH_REQUIRE_BROWSER=1 but there is no chromium at ${executablePath} (apt-get install chromium).`);
if (!haveBrowser) console.warn(`skipping the real-browser report test: no chromium at ${executablePath} (apt-get install chromium, or set UNLEARN_BENCH_CHROMIUM)`);

const manifest = writeManifest({
  name: 'report-html',
  seeds: [1, 2],
  dataset: { use: 'core/synthetic-images', options: { shape: [4, 4, 1], trainSize: 300, testSize: 100 } },
  model: { use: 'core/mlp', options: { hidden: [16] } },
  training: { epochs: 2, batchSize: 50, learningRate: 0.05 },
  attacks: [{ use: 'core/gaussian', options: { count: 30, sigma: 0.5 } }],
  unlearners: [{ use: 'core/none' }, { use: 'core/retrain' }, { use: 'core/retrain-replica' }, { use: 'core/gd' }, { use: 'core/ga' }],
  budgets: [0.1, 0.3],
  metrics: [{ use: 'core/accuracy' }, { use: 'core/gus' }],
});

/** Opens `file` in chromium, waits for every chart, and returns what the page did; saves a screenshot at `screenshot`. */
async function openReport(file: string, screenshot: string): Promise<{ charts: number; svgs: number; errors: string[]; requests: string[]; text: string }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    const charts = await page.evaluate(() => (globalThis as unknown as { __chartsReady: Promise<number> }).__chartsReady);
    await page.screenshot({ path: screenshot, fullPage: true });
    return { charts, svgs: await page.locator('svg.marks').count(), errors, requests, text: await page.locator('body').innerText() };
  } finally {
    await browser.close();
  }
}

describe('report --html', () => {
  let out = '';
  let runOutput = '';
  beforeAll(async () => {
    out = join(tempDir(), 'run');
    const run = await runInProcess(['run', manifest, '--out', out, '--backend', 'cpu', '--workers', '1', '--quiet']);
    expect(run.code).toBe(0);
    runOutput = run.stdout;
  });

  it('is written at the end of a run, which says where', () => {
    expect(runOutput).toContain(`HTML report: ${join(out, 'report.html')}\n`);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('is the same from a copy of the run folder', async () => {
    const copy = join(tempDir(), 'elsewhere');
    cpSync(out, copy, { recursive: true });
    const target = join(copy, 'copy.html');
    const result = await runInProcess(['report', copy, '--html', target]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`HTML report: ${target}\n`);
    expect(readFileSync(target, 'utf8')).toBe(readFileSync(join(out, 'report.html'), 'utf8'));
  });

  it.skipIf(!haveBrowser)('renders in chromium with no request and no console error', async () => {
    const screenshot = join(tempDir(), 'report.png');
    const page = await openReport(join(out, 'report.html'), screenshot);
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([pathToFileURL(join(out, 'report.html')).href]);
    // accuracy, accuracy:drop, gus, gus:fresh-noise; the verdict matrix; two score histograms.
    expect(page.charts).toBe(7);
    expect(page.svgs).toBe(7);
    for (const label of ['gd @ 10%', 'ga @ 30%', 'retrain-replica', 'none (poisoned)', 'verdict against retraining', 'gus: per-poison scores', 'Holm']) expect(page.text).toContain(label);
    expect(readFileSync(screenshot).subarray(1, 4).toString()).toBe('PNG');
  }, 60_000);
});
