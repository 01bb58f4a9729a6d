import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartValues, RUN_CHARTS, runPlots } from '../../src/experiments/runPlots.js';
import { writeRunReport } from '../../src/experiments/runReportFile.js';
import { buildRunReport, markdownCell } from '../../src/experiments/runReport.js';
import {
  findRunFolders,
  firstAndLastSamples,
  readRunView,
  runActivity,
  RUNNING_WINDOW_MS,
} from '../../src/experiments/runView.js';
import { type FixtureRun, writeFixtureRun } from './runFixture.js';

let root = '';
let run: FixtureRun;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-run-report-'));
  run = writeFixtureRun(join(root, 'run'), { algo: 'grpovi', steps: 8, evalEvery: 2, gold: true });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('reading a run folder', () => {
  it('reads back the rows and samples written, and ignores a torn last line', () => {
    const dir = join(root, 'torn');
    const fixture = writeFixtureRun(dir, { steps: 4 });
    writeFileSync(
      join(dir, 'metrics.jsonl'),
      `${readFileSync(join(dir, 'metrics.jsonl'), 'utf8')}{"step": 5, "rew`,
    );
    const view = readRunView(dir);
    expect(view.rows).toEqual(fixture.rows);
    expect(view.samples).toEqual(fixture.samples);
    expect(view.step).toBe(4);
    expect(view.state).toBe('finished');
  });

  it('names the file and line of a bad row', () => {
    const dir = join(root, 'bad');
    writeFixtureRun(dir, { steps: 2 });
    writeFileSync(
      join(dir, 'samples.jsonl'),
      '{"step": 0, "prompt": "a", "completion": "b", "reward": 1}\n{"step": 1}\n',
    );
    expect(() => readRunView(dir)).toThrow(/samples\.jsonl line 2: a sample needs/);
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step": 0}\nnot json\n');
    expect(() => readRunView(dir)).toThrow(/metrics\.jsonl line 2 is not valid JSON at column 2/);
  });

  it('tells finished, running, interrupted and new runs apart', () => {
    const now = 1_000_000_000;
    expect(runActivity(8, 8, now - 10 * RUNNING_WINDOW_MS, now)).toBe('finished');
    expect(runActivity(3, 8, now - 1000, now)).toBe('running');
    expect(runActivity(3, 8, now - RUNNING_WINDOW_MS - 1, now)).toBe('interrupted');
    expect(runActivity(null, 8, null, now)).toBe('new');
    // From the files' times: a run whose files are old and short of its steps was interrupted.
    const dir = join(root, 'stopped');
    writeFixtureRun(dir, { steps: 8, logged: 3 });
    expect(readRunView(dir).state).toBe('running');
    const old = new Date(Date.now() - 2 * RUNNING_WINDOW_MS);
    for (const file of ['config.json', 'metrics.jsonl', 'samples.jsonl'])
      utimesSync(join(dir, file), old, old);
    expect(readRunView(dir).state).toBe('interrupted');
  });

  it('finds every run folder under a folder, and the folder itself when it is one', () => {
    const tree = join(root, 'tree');
    writeFixtureRun(join(tree, 'default', 'grpo', 'seed-0'), { algo: 'grpo' });
    writeFixtureRun(join(tree, 'default', 'grpovi', 'seed-0'));
    writeFixtureRun(join(tree, 'default', 'grpovi', 'seed-0', 'checkpoints', 'step-000001'));
    expect(findRunFolders(tree)).toEqual([
      join('default', 'grpo', 'seed-0'),
      join('default', 'grpovi', 'seed-0'),
    ]);
    expect(findRunFolders(run.dir)).toEqual(['']);
  });
});

describe('the charts of a run', () => {
  it("hold exactly the rows' values of each curve", () => {
    const series = [{ label: 'grpovi', algo: 'grpovi', rows: run.rows }];
    const byName = Object.fromEntries(RUN_CHARTS.map((c) => [c.name, chartValues(c, series)]));
    const pick = (kind: string, field: string) =>
      run.rows.flatMap((r) => {
        const v = (r as unknown as Record<string, number | undefined>)[field];
        return v === undefined ? [] : [{ run: 'grpovi', kind, step: r.step, value: v }];
      });
    expect(byName.reward).toEqual(
      expect.arrayContaining([...pick('training', 'reward_mean'), ...pick('evaluation', 'eval_reward')]),
    );
    expect(byName.reward).toHaveLength(
      pick('training', 'reward_mean').length +
        pick('evaluation', 'eval_reward').length +
        pick('gold', 'eval_gold').length,
    );
    expect(byName.kl).toEqual(pick('kl', 'kl'));
    expect(byName.entropy).toEqual(pick('entropy', 'entropy'));
    expect(byName.grad_norm).toEqual(pick('grad_norm', 'grad_norm'));
    expect(byName.reward_std).toEqual([
      ...pick('raw', 'reward_std_group'),
      ...pick('adjusted', 'adjusted_reward_std'),
    ]);
  });

  it('draw no adjusted std for GRPO, and leave out charts without data', () => {
    const rows = run.rows.map(({ entropy: _e, ...row }) => row);
    const plots = runPlots([{ label: 'grpo', algo: 'grpo', rows }]);
    expect(plots.map((p) => p.name)).not.toContain('entropy');
    const std = plots.find((p) => p.name === 'reward_std')!;
    const kinds = new Set((std.spec.data as { values: { kind: string }[] }).values.map((v) => v.kind));
    expect([...kinds]).toEqual(['raw']);
  });
});

describe('grpovi report RUN', () => {
  it('writes report.md with the plots, the first and last evaluation samples and the config', async () => {
    const result = await writeRunReport(run.dir, new Date('2026-01-02T03:04:05Z'));
    const report = readFileSync(result.reportPath, 'utf8');
    for (const name of ['reward', 'kl', 'entropy', 'completion_length', 'grad_norm', 'reward_std']) {
      const svg = readFileSync(join(run.dir, 'plots', `${name}.svg`), 'utf8');
      expect(svg).toMatch(/^<svg/);
      expect(svg).toContain('mark-line');
      expect(report).toContain(`(plots/${name}.svg)`);
      expect(existsSync(join(run.dir, 'plots', `${name}.png`))).toBe(true);
    }
    const { first, last } = firstAndLastSamples(run.samples);
    expect([first?.step, last?.step]).toEqual([0, 8]);
    expect(report).toContain('### First evaluation (step 0)');
    expect(report).toContain('### Last evaluation (step 8)');
    for (const s of [...first!.samples, ...last!.samples])
      expect(report).toContain(`| ${s.prompt} | ${s.completion} |`);
    expect(report).not.toContain('at step 4 |'); // a middle evaluation's samples are left out
    const json = report.slice(report.indexOf('```json') + 7, report.lastIndexOf('```'));
    expect(JSON.parse(json)).toEqual(run.config);
    expect(report).toContain('Run finished: 8 of 8 steps. Generated 2026-01-02T03:04:05.000Z.');
    // eval reward 0.15 at step 0 and 0.15 + 0.01 * 8 at the last step.
    expect(report).toContain(
      'Evaluation reward 0.150 at step 0, 0.230 at step 8 (+0.080); best 0.230 at step 8.',
    );
    expect(report).toContain('Gold reward 0.300 at step 0, 0.340 at step 8.');
  });

  it('keeps a table cell in one piece whatever the completion holds', () => {
    expect(markdownCell('a|b\nc<d>&')).toBe('a\\|b↵c&lt;d&gt;&amp;');
    const view = {
      ...readRunView(run.dir),
      samples: [{ step: 0, prompt: 'p|q', completion: 'x\ny', reward: 1, rewards: {} }],
    };
    const report = buildRunReport({ view, plots: [], generatedAt: 'now' });
    expect(report).toContain('| p\\|q | x↵y | 1.000 |');
    expect(report).toContain('Only one evaluation has logged samples so far.');
  });
});
