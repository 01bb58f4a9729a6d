import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '../../src/dashboard/server.js';
import { DashboardSource, type DashboardState } from '../../src/dashboard/state.js';
import { appendMetrics, type FixtureRun, metricsRow, writeFixtureRun } from '../experiments/runFixture.js';
import { Rng } from '../../src/util/rng.js';

/** GET /api/state with a chosen Host header (fetch does not let one set it). */
function statusWithHost(url: string, host: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ hostname, port, path: '/api/state', headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}

let root = '';
let grpo: FixtureRun;
let grpovi: FixtureRun;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-dashboard-state-'));
  grpo = writeFixtureRun(join(root, 'default', 'grpo', 'seed-0'), { algo: 'grpo', steps: 6 });
  grpovi = writeFixtureRun(join(root, 'default', 'grpovi', 'seed-0'), {
    algo: 'grpovi',
    steps: 6,
    logged: 3,
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the dashboard state', () => {
  it("has a row per run with its last logged values, and the runs' curves in the charts", () => {
    const state = new DashboardSource(root).state();
    expect(state.runs.map((r) => [r.id, r.algo, r.step, r.steps, r.state])).toEqual([
      [join('default', 'grpo', 'seed-0'), 'grpo', 6, 6, 'finished'],
      [join('default', 'grpovi', 'seed-0'), 'grpovi', 3, 6, 'running'],
    ]);
    const lastRow = grpovi.rows.at(-1)!;
    expect(state.runs[1].reward).toBe(lastRow.reward_mean);
    expect(state.runs[1].kl).toBe(lastRow.kl);
    expect(state.runs[1].eval_reward).toBe(
      grpovi.rows.filter((r) => r.eval_reward !== undefined).at(-1)!.eval_reward,
    );
    const kl = state.charts.find((c) => c.name === 'kl')!;
    const values = (kl.spec.data as { values: { run: string; step: number; value: number }[] }).values;
    expect(values).toHaveLength(grpo.rows.filter((r) => r.kl !== undefined).length + 3);
    // The last evaluation's samples of each run.
    expect(state.samples.map((s) => [s.run, s.step, s.samples.length])).toEqual([
      [join('default', 'grpo', 'seed-0'), 6, 3],
      [join('default', 'grpovi', 'seed-0'), 2, 3],
    ]);
  });

  it('changes its version when a run appends a row, and only then', () => {
    const source = new DashboardSource(root);
    const before = source.state();
    expect(source.state().version).toBe(before.version);
    appendMetrics(grpovi.dir, metricsRow(4, new Rng(4), 'grpovi', 2, false));
    const after = source.state();
    expect(after.version).not.toBe(before.version);
    expect(after.runs[1].step).toBe(4);
  });

  it('shows an unreadable run as such instead of failing', () => {
    const dir = join(root, 'broken');
    writeFixtureRun(dir, { steps: 2 });
    writeFileSync(join(dir, 'metrics.jsonl'), 'oops\n');
    const state = new DashboardSource(root).state();
    const broken = state.runs.find((r) => r.id === 'broken')!;
    expect(broken.error).toMatch(/metrics\.jsonl line 1 is not valid JSON at column 1/);
    rmSync(dir, { recursive: true });
  });
});

describe('the dashboard server', () => {
  it('binds 127.0.0.1 on a free port and serves the page, the vendored scripts and the state', async () => {
    const dashboard = await startDashboard({ dir: root, port: 0 });
    try {
      expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const page = await fetch(dashboard.url);
      expect(page.status).toBe(200);
      const html = await page.text();
      for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
        expect(src[1].startsWith('/'), `${src[1]} is served locally`).toBe(true);
        expect((await fetch(new URL(src[1], dashboard.url))).status).toBe(200);
      }
      const vegaLite = await (await fetch(new URL('/vendor/vega-lite.min.js', dashboard.url))).text();
      expect(vegaLite).toContain('vegaLite');
      const state = (await (await fetch(new URL('/api/state', dashboard.url))).json()) as DashboardState;
      expect(state.runs).toHaveLength(2);
      expect((await fetch(new URL('/../package.json', dashboard.url))).status).toBe(404);
      expect((await fetch(new URL('/api/state', dashboard.url), { method: 'POST' })).status).toBe(405);
      // A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing.
      const { port } = new URL(dashboard.url);
      expect(await statusWithHost(dashboard.url, `evil.example:${port}`)).toBe(403);
      expect(await statusWithHost(dashboard.url, `localhost:${port}`)).toBe(200);
    } finally {
      await dashboard.close();
    }
  });
});
