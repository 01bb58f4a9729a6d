import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlayground, startPlayground } from '../../src/playground/server.js';
import { runCli } from '../cli/cliBin.js';

// End to end in Debian's chromium (never a downloaded browser), driven by playwright-core: the page
// trains the toy task in the tab through grpovi's browser bundle (dist/browser/, `npm run build`),
// on WebGPU and on wasm, and loads nothing from anywhere but the playground server. CI installs
// chromium (.ci/run); without it this suite is skipped, saying so. `--enable-unsafe-webgpu` alone
// gives SwiftShader's adapter, but TF.js's synchronous reads on it (through a canvas) then come back
// as zeros and the first update diverges: ANGLE and Vulkan on SwiftShader too make them work (see
// docs/browser.md). The settings are the smallest that still make a GRPO step (two prompts of two
// completions): a step on the software adapter is slow.
const CHROMIUM = process.env.GRPOVI_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`playground browser test skipped: no chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}

const STEPS = 2;
const SMALL = `num_generations=2&prompts_per_step=2&max_completion_length=4`;
/** Fields every training row of metrics.jsonl carries (src/train/metrics.ts). */
const TRAINING_FIELDS = [
  'step',
  'reward_mean',
  'reward_std',
  'adjusted_reward_std',
  'kl',
  'loss',
  'entropy',
  'grad_norm',
  'completion_length',
  'learning_rate',
  'step_seconds',
];

let playground: RunningPlayground;
let browser: Browser;

/** Waits until the page's `<body data-state>` is one of `states` (the test has no DOM types: a string runs in the page). */
function waitForState(page: Page, states: string[], timeout = 30_000) {
  return page.waitForFunction(`${JSON.stringify(states)}.includes(document.body.dataset.state)`, null, {
    timeout,
    polling: 500,
  });
}

/** Whether a request went to the playground server (or to a blob: URL the page made, which stays in the tab). */
function fromServer(url: string): boolean {
  return url.startsWith(playground.url) || url.startsWith(`blob:${playground.url}`);
}

interface PageRun {
  state: string;
  error: string;
  backend: string;
  rows: Record<string, unknown>[];
  requests: string[];
  pageErrors: string[];
  seconds: number;
}

/** Opens the page with `query`, waits until it finished or stopped on an error, and reads it; `after` runs on the page before it closes. */
async function runPage(
  query: string,
  timeout: number,
  after?: (page: Page) => Promise<void>,
  init?: string,
): Promise<PageRun> {
  const page = await browser.newPage();
  if (init !== undefined) await page.addInitScript(init);
  const requests: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const started = Date.now();
  try {
    await page.goto(`${playground.url}?${query}`);
    await waitForState(page, ['finished', 'error'], timeout);
    const text = await page.locator('#metrics').innerText();
    await after?.(page);
    return {
      state: (await page.locator('body').getAttribute('data-state')) ?? '',
      error: await page.locator('#error').innerText(),
      backend: await page.locator('#backend').innerText(),
      rows: text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
      requests,
      pageErrors,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await page.close();
  }
}

function expectTrainingRows(run: PageRun, algo: string): void {
  expect(run.error).toBe('');
  expect(run.state).toBe('finished');
  const training = run.rows.filter((row) => row.step !== 0);
  expect(training.map((row) => row.step)).toEqual([1, 2]);
  for (const row of training) {
    for (const field of TRAINING_FIELDS.filter((f) => algo === 'grpovi' || f !== 'adjusted_reward_std')) {
      expect(typeof row[field], `${field} in ${JSON.stringify(row)}`).toBe('number');
      expect(Number.isFinite(row[field]), `${field} in ${JSON.stringify(row)}`).toBe(true);
    }
  }
  expect(run.requests.length).toBeGreaterThan(5);
  for (const url of run.requests) expect(fromServer(url), url).toBe(true);
  expect(run.pageErrors).toEqual([]);
}

describe.skipIf(!HAVE_CHROMIUM)('the playground in headless chromium', () => {
  beforeAll(async () => {
    playground = await startPlayground({ port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--use-angle=swiftshader',
        '--enable-features=Vulkan',
        '--use-vulkan=swiftshader',
        '--disable-background-networking',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await playground?.close();
  });

  it('trains the toy task with GRPOVI on WebGPU and loads everything from the server', async () => {
    const run = await runPage(
      `task=toy&steps=${STEPS}&backend=webgpu&autostart=1&algo=grpovi&eval_every=0&${SMALL}`,
      240_000,
    );
    console.log(`playground browser test: ${STEPS} toy steps on WebGPU in ${run.seconds.toFixed(1)} s`);
    expect(run.error).toBe('');
    expect(run.backend).toBe('webgpu');
    expect(run.rows).toHaveLength(STEPS);
    expectTrainingRows(run, 'grpovi');
  }, 300_000);

  it('trains the toy task with GRPO on wasm, with the evaluation rows of metrics.jsonl', async () => {
    const out = mkdtempSync(join(tmpdir(), 'grpovi-playground-download-'));
    // The trained policy, downloaded as a zip (headless chromium has no showDirectoryPicker).
    let savedFolder: Record<string, number[]> = {};
    const saveZip = async (page: Page) => {
      if (!(await page.locator('#save-zip').isEnabled())) return;
      const download = page.waitForEvent('download');
      await page.click('#save-zip');
      await (await download).saveAs(join(out, 'policy.zip'));
      // "Save the model as a folder" through the picker stand-in below.
      await page.click('#save');
      await expect
        .poll(() => page.locator('#status').innerText())
        .toMatch(/^saved \d+ files into the folder picked$/);
      savedFolder = (await page.evaluate('window.savedFiles')) as Record<string, number[]>;
    };
    // Headless chromium has no folder picker to click through: an in-memory stand-in of the File
    // System Access handles records what the page writes, by path.
    const pickerStandIn = `
      window.savedFiles = {};
      const folder = (prefix) => ({
        name: 'picked',
        getDirectoryHandle: async (name) => folder(prefix + name + '/'),
        getFileHandle: async (name) => ({
          createWritable: async () => {
            const parts = [];
            return {
              write: async (bytes) => parts.push(...bytes),
              close: async () => { window.savedFiles[prefix + name] = parts; },
            };
          },
        }),
      });
      window.showDirectoryPicker = async () => folder('');
    `;
    const run = await runPage(
      `task=toy&steps=${STEPS}&backend=wasm&autostart=1&algo=grpo&eval_every=2&${SMALL}`,
      240_000,
      saveZip,
      pickerStandIn,
    );
    console.log(`playground browser test: ${STEPS} toy steps on wasm in ${run.seconds.toFixed(1)} s`);
    expect(run.error).toBe('');
    expect(run.backend).toBe('wasm');
    // Step 0 evaluates the starting policy; the last step carries the evaluation after it.
    expect(run.rows.map((row) => row.step)).toEqual([0, 1, 2]);
    expect(typeof run.rows[0].eval_reward).toBe('number');
    expect(typeof run.rows[2].eval_reward).toBe('number');
    expect(run.rows[1].eval_reward).toBeUndefined();
    expectTrainingRows(run, 'grpo');
    try {
      // The download unzips into a folder that `grpovi sample --policy` reads.
      const unzip = spawnSync(
        'python3',
        [
          '-c',
          'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
          join(out, 'policy.zip'),
          join(out, 'policy'),
        ],
        { encoding: 'utf8' },
      );
      expect(unzip.stderr).toBe('');
      expect(readdirSync(join(out, 'policy'))).toContain('model.safetensors');
      // The folder written through the picker holds the same files as the zip.
      expect(Object.keys(savedFolder).sort()).toEqual(readdirSync(join(out, 'policy')).sort());
      for (const [name, bytes] of Object.entries(savedFolder))
        expect(Buffer.from(bytes).equals(readFileSync(join(out, 'policy', name))), name).toBe(true);
      const sample = await runCli([
        'sample',
        '--policy',
        join(out, 'policy'),
        '--prompt',
        'abc:',
        '--json',
        '--backend',
        'wasm',
      ]);
      expect(sample.stderr).toBe('');
      expect(sample.code).toBe(0);
      expect(JSON.parse(sample.stdout.trim().split('\n')[0])).toMatchObject({ prompt: 'abc:' });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);

  it('trains a model folder picked from disk on a prompts file with a reward typed into the page (wasm)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grpovi-playground-own-'));
    try {
      // The packaged arithmetic policy (char-level, 2 layers); the answer column reaches the reward as rows[i].
      const sums = [
        [3, 4],
        [5, 2],
        [1, 1],
        [6, 3],
        [2, 7],
        [4, 4],
      ];
      writeFileSync(
        join(dir, 'sums.jsonl'),
        sums.map(([a, b]) => JSON.stringify({ prompt: `${a}+${b}=`, answer: String(a + b) })).join('\n'),
      );
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      const attempt = async (reward: string) => {
        await page.goto(
          `${playground.url}?task=files&steps=1&backend=wasm&algo=grpovi&num_generations=2&prompts_per_step=2&max_completion_length=3&eval_every=0`,
        );
        await waitForState(page, ['ready']);
        await page.setInputFiles('#model-folder', join('assets', 'arithmetic-policy'));
        await page.setInputFiles('#prompts-file', join(dir, 'sums.jsonl'));
        await page.fill('#reward-source', reward);
        await page.click('#start');
        await waitForState(page, ['finished', 'error'], 120_000);
        return {
          error: await page.locator('#error').innerText(),
          rows: (await page.locator('#metrics').innerText())
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as Record<string, unknown>),
        };
      };
      const exact = [
        'export default function exact(prompts, completions, rows) {',
        '  return completions.map((c, i) => (c.trim() === rows[i].answer ? 1 : 0));',
        '}',
        'exact.range = [0, 1];',
      ].join('\n');
      const good = await attempt(exact);
      expect(good.error).toBe('');
      expect(good.rows.map((row) => row.step)).toEqual([1]);
      expect(typeof good.rows[0]['rewards/exact']).toBe('number');
      expect(good.rows[0].reward_mean).toBe(good.rows[0]['rewards/exact']);
      const throwing = await attempt(
        'export default function picky(p, c, rows) { throw new Error(`no answer for ${rows[0].prompt}`); }\npicky.range = [0, 1];',
      );
      expect(throwing.error).toMatch(
        /^step 1: .*picky.*no answer for \d\+\d= \(in reward \(typed in the page\)\)/,
      );
      // The typed module is imported from a blob: URL the page made itself; nothing else is loaded.
      for (const url of requests) expect(fromServer(url), url).toBe(true);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('shows the user a bad prompts file, reward module or model folder by name, line and value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'grpovi-playground-files-'));
    try {
      mkdirSync(join(dir, 'my-model'));
      writeFileSync(join(dir, 'my-model', 'model.json'), '{}');
      mkdirSync(join(dir, 'photos'));
      writeFileSync(join(dir, 'photos', 'cat.png'), 'not a model');
      writeFileSync(join(dir, 'prompts.jsonl'), '{"prompt": "a"}\n\n{"prompt": nope}\n');
      writeFileSync(join(dir, 'good.jsonl'), '{"prompt": "a"}\n');
      writeFileSync(join(dir, 'broken.mjs'), 'export default function (p, c) { return c.map(( => 1); }\n');
      const page = await browser.newPage();
      const attempt = async (folder: string, prompts: string, reward?: string) => {
        await page.goto(`${playground.url}?task=files&steps=1&backend=wasm`);
        await waitForState(page, ['ready']);
        await page.setInputFiles('#model-folder', join(dir, folder));
        await page.setInputFiles('#prompts-file', join(dir, prompts));
        if (reward) {
          await page.setInputFiles('#reward-file', join(dir, reward));
          await expect.poll(() => page.locator('#reward-source').inputValue()).toContain('c.map');
        }
        await page.click('#start');
        await waitForState(page, ['error']);
        return page.locator('#error').innerText();
      };
      expect(await attempt('my-model', 'prompts.jsonl')).toMatch(
        /^prompts\.jsonl line 3: is not valid JSON \(/,
      );
      expect(await attempt('my-model', 'good.jsonl', 'broken.mjs')).toMatch(
        /^broken\.mjs: reward module failed to load: /,
      );
      expect(await attempt('my-model', 'good.jsonl')).toBe(
        'my-model: has model.json (a grpovi folder) but no model.safetensors',
      );
      expect(await attempt('photos', 'good.jsonl')).toMatch(
        /^photos: is not a model folder: .*\["cat\.png"\]$/,
      );
      await page.goto(`${playground.url}?task=toy&steps=two&autostart=1`);
      await waitForState(page, ['error']);
      expect(await page.locator('#error').innerText()).toBe(
        'query parameter "steps" must be a whole number ("two")',
      );
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
