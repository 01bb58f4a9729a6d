import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDashboard, startDashboard } from '../../src/dashboard/server.js';
import { Rng } from '../../src/util/rng.js';
import { appendMetrics, type FixtureRun, metricsRow, writeFixtureRun } from '../experiments/runFixture.js';

// End to end in Debian's chromium (never a downloaded browser), driven by playwright-core: the page
// loads only from the dashboard server, draws its charts, and picks up a metrics line appended to a
// run without a reload. CI installs chromium (.ci/run); without it this suite is skipped, saying so.
const CHROMIUM = process.env.GRPOVI_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`dashboard browser test skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}

let root = '';
let grpovi: FixtureRun;
let dashboard: RunningDashboard;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const errors: string[] = [];

describe.skipIf(!HAVE_CHROMIUM)('the dashboard in headless chromium', () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'grpovi-dashboard-browser-'));
    writeFixtureRun(join(root, 'default', 'grpo', 'seed-0'), { algo: 'grpo', steps: 6 });
    grpovi = writeFixtureRun(join(root, 'default', 'grpovi', 'seed-0'), {
      algo: 'grpovi',
      steps: 6,
      logged: 3,
    });
    dashboard = await startDashboard({ dir: root, port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(dashboard.url);
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const stepCell = () => page.locator(`#runs tr[data-run="${join('default', 'grpovi', 'seed-0')}"] td.step`);

  it('shows a row per run with its step and state', async () => {
    await expect.poll(() => page.locator('#runs tbody tr').count(), { timeout: 20_000 }).toBe(2);
    expect(await stepCell().innerText()).toBe('3 / 6');
    expect(await page.locator('#runs tbody td.state').allInnerTexts()).toEqual(['finished', 'running']);
  });

  it('draws every chart as SVG with line and point marks', async () => {
    for (const name of ['reward', 'kl', 'entropy', 'completion_length', 'grad_norm', 'reward_std']) {
      const chart = page.locator(`[data-chart="${name}"] svg`);
      await expect
        .poll(() => chart.locator('.mark-line path').count(), { timeout: 20_000 })
        .toBeGreaterThan(0);
    }
    // One point per logged KL value: 6 steps of the GRPO run and 3 of the GRPOVI run.
    expect(await page.locator('[data-chart="kl"] svg .mark-symbol.role-mark path').count()).toBe(9);
    expect(await page.locator('#samples').innerText()).toContain('completion 0 at step 6');
  });

  it('shows a metrics line appended to a run without a reload', async () => {
    const navigations = requests.filter((url) => url === dashboard.url).length;
    appendMetrics(grpovi.dir, metricsRow(4, new Rng(4), 'grpovi', 2, false));
    await expect.poll(() => stepCell().innerText(), { timeout: 20_000 }).toBe('4 / 6');
    await expect
      .poll(() => page.locator('[data-chart="kl"] svg .mark-symbol.role-mark path').count(), {
        timeout: 20_000,
      })
      .toBe(10);
    expect(requests.filter((url) => url === dashboard.url).length).toBe(navigations);
  });

  it('loaded nothing from anywhere but the dashboard server, without script errors', () => {
    expect(requests.length).toBeGreaterThan(3);
    for (const url of requests) expect(url.startsWith(dashboard.url), url).toBe(true);
    expect(errors).toEqual([]);
  });
});
