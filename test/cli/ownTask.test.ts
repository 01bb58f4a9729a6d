import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli as runInProcessCli } from '../../src/cli/main.js';
import { readSamples } from '../../src/train/samples.js';
import { metricsWithoutTiming, tempDir } from '../train/helpers.js';
import { CLI_BIN, type ProcessRun, ROOT, runCli } from './cliBin.js';

// The README's "Train on your own task" example end to end through the built CLI (`npm test` builds
// dist first), on a tiny model and a few steps: pretrain on the text, train-rm on the preferences,
// train GRPO/GRPOVI from the prompt file with a reward module and the reward model, resume, compare
// two seeds with --jobs 2, sample; then every bad input the issue lists.

const EXAMPLE = join(ROOT, 'examples', 'own-task');
const PROMPTS = join(EXAMPLE, 'prompts.jsonl');
const KEYWORDS = join(EXAMPLE, 'keywords.mjs');
const SMALL = ['--prompts-per-step', '2', '--group-size', '2', '--max-completion-length', '4', '--quiet'];

let dir = '';
let cleanup = () => {};
const at = (...parts: string[]) => join(dir, ...parts);
const run = (args: string[]) => runCli(args, { cwd: dir });

/** Runs the CLI in this process (cheaper than a spawn), capturing stdout and stderr. */
async function runHere(args: string[]): Promise<ProcessRun> {
  let stdout = '';
  let stderr = '';
  const capture = (sink: (text: string) => void) => (chunk: string | Uint8Array) => {
    sink(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture((t) => (stdout += t)));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture((t) => (stderr += t)));
  try {
    return { code: await runInProcessCli(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** Lines that inform before training (the held-out share, vocabulary warnings), not errors. */
const NOTICE = /^grpovi: (?:held out \d+ of|warning: )/;

/** The one line a refused command prints (after any notices). */
function oneLine(result: ProcessRun): string {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((line) => !NOTICE.test(line));
  expect(lines, result.stderr).toHaveLength(1);
  return lines[0];
}

function file(name: string, text: string): string {
  writeFileSync(at(name), text);
  return at(name);
}

let pretrained: ProcessRun;
let rewardModel: ProcessRun;
let grpovi: ProcessRun;
let module: ProcessRun;
beforeAll(async () => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  ({ dir, cleanup } = tempDir('own-task'));
  [pretrained, module] = await Promise.all([
    run([
      'pretrain',
      '--text',
      join(EXAMPLE, 'text.txt'),
      '--out',
      at('policy'),
      '--steps',
      '30',
      '--width',
      '16',
      '--depth',
      '1',
      '--heads',
      '2',
      '--context',
      '32',
      '--vocab-size',
      '300',
      '--batch-size',
      '8',
      '--eval-every',
      '30',
    ]),
    run([
      'train',
      '--task',
      join(EXAMPLE, 'letters-task.mjs'),
      '--steps',
      '2',
      '--out',
      at('module-run'),
      ...SMALL,
    ]),
  ]);
  rewardModel = await run([
    'train-rm',
    '--preferences',
    join(EXAMPLE, 'preferences.jsonl'),
    '--policy',
    at('policy'),
    '--out',
    at('rm'),
    '--epochs',
    '2',
    '--batch-size',
    '8',
  ]);
  copyFileSync(KEYWORDS, at('keywords.mjs'));
  const trainArgs = (out: string, steps: string) => [
    'train',
    '--prompts',
    PROMPTS,
    '--reward',
    at('keywords.mjs'),
    '--reward-model',
    `${at('rm')}:0.5`,
    '--policy',
    at('policy'),
    '--algo',
    'grpovi',
    '--eval-every',
    '2',
    '--steps',
    steps,
    '--out',
    out,
    ...SMALL,
  ];
  const [full, half] = await Promise.all([run(trainArgs(at('full'), '4')), run(trainArgs(at('half'), '2'))]);
  grpovi = full;
  expect(half.code, half.stderr).toBe(0);
}, 240_000);
afterAll(() => cleanup());

describe('the own-task example through the CLI', () => {
  it('pretrain --text writes a policy and prints the held-out perplexity', () => {
    expect(pretrained.code, pretrained.stderr).toBe(0);
    expect(pretrained.stdout).toMatch(/^held-out loss \d+\.\d+, perplexity \d+\.\d after 30 steps/);
    // Prose: sentences split at their ends, several to a line (the example's 30 lines).
    const split = /text\.txt: (\d+) sentences from 30 lines \(split at sentence ends as running text\)/.exec(
      pretrained.stderr,
    );
    expect(split, pretrained.stderr).not.toBeNull();
    expect(Number(split?.[1])).toBeGreaterThan(30);
    const info = JSON.parse(readFileSync(at('policy', 'model.json'), 'utf8')) as {
      tokenizer: { kind: string };
    };
    expect(info.tokenizer.kind).toBe('word');
  });

  it('train-rm --preferences writes a reward model and prints the held-out pairwise accuracy', () => {
    expect(rewardModel.code, rewardModel.stderr).toBe(0);
    expect(rewardModel.stdout).toMatch(
      /^held-out pairwise accuracy: \d+\.\d% \(4 pairs; train \d+\.\d% on 40\)/,
    );
    expect(rewardModel.stderr).toContain('40 training pairs and 4 held-out pairs');
  });

  it('train from files logs both rewards, samples at every evaluation, and records the files with hashes', () => {
    expect(grpovi.code, grpovi.stderr).toBe(0);
    expect(grpovi.stderr).toContain('held out 3 of the 30 prompts');
    const rows = metricsWithoutTiming(at('full'));
    expect(rows.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
    expect(rows[1]).toHaveProperty('rewards/keywords');
    expect(rows[1]).toHaveProperty('rewards/reward_model');
    const samples = readSamples(at('full', 'samples.jsonl'));
    expect([...new Set(samples.map((s) => s.step))]).toEqual([0, 2, 4]);
    for (const s of samples) {
      expect(Object.keys(s.rewards)).toEqual(['keywords', 'reward_model']);
      expect(s.reward).toBeCloseTo(s.rewards.keywords + 0.5 * s.rewards.reward_model, 12);
    }
    const files = (
      JSON.parse(readFileSync(at('full', 'user-files.json'), 'utf8')) as {
        files: { role: string; path: string }[];
      }
    ).files;
    expect(files.map((f) => f.role)).toEqual([
      'prompts',
      'reward module',
      'reward model',
      'reward model',
      'policy',
      'policy',
    ]);
    expect(files[0].path).toBe(PROMPTS);
  });

  it('resumes to the same metrics as an uninterrupted run, and refuses a changed reward module', async () => {
    writeFileSync(at('keywords.mjs'), `${readFileSync(KEYWORDS, 'utf8')}\n// edited\n`);
    const refused = await run(['train', '--resume', at('half'), '--steps', '4', '--quiet']);
    expect(oneLine(refused)).toMatch(
      new RegExp(
        `^grpovi: reward module ${at('keywords.mjs')} changed since the run started \\(sha256 [0-9a-f]{12}\\.\\.\\. now [0-9a-f]{12}\\.\\.\\.\\);.*--allow-changed-files`,
      ),
    );
    expect(metricsWithoutTiming(at('half')).map((r) => r.step)).toEqual([0, 1, 2]);
    copyFileSync(KEYWORDS, at('keywords.mjs'));
    const resumed = await run(['train', '--resume', at('half'), '--steps', '4', '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(metricsWithoutTiming(at('half'))).toEqual(metricsWithoutTiming(at('full')));
    expect(readSamples(at('half', 'samples.jsonl'))).toEqual(readSamples(at('full', 'samples.jsonl')));
  });

  it('compare runs two seeds of both algorithms from the same files with --jobs 2, and shows samples', async () => {
    copyFileSync(KEYWORDS, at('kw-compare.mjs'));
    const compareArgs = [
      'compare',
      '--prompts',
      PROMPTS,
      '--reward',
      at('kw-compare.mjs'),
      '--policy',
      at('policy'),
      '--seeds',
      '2',
      '--steps',
      '2',
      '--jobs',
      '2',
      '--out',
      at('cmp'),
      '--config',
      file(
        'cmp.json',
        '{"prompts_per_step": 2, "num_generations": 2, "eval_every": 1, "max_completion_length": 4}',
      ),
    ];
    const result = await run(compareArgs);
    expect(result.code, result.stderr).toBe(0);
    for (const algo of ['grpo', 'grpovi']) {
      for (const seed of [0, 1]) {
        const runDir = at('cmp', 'default', algo, `seed-${seed}`);
        expect(metricsWithoutTiming(runDir).map((r) => r.step)).toEqual([0, 1, 2]);
        expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'))).toMatchObject({
          task: 'files',
          prompts: PROMPTS,
          algo,
          seed,
        });
      }
    }
    const report = readFileSync(at('cmp', 'report.md'), 'utf8');
    expect(report).toContain('## Samples');
    expect(report).toMatch(/\*\*grpovi\*\*, default, seed 0:/);
    const summary = JSON.parse(readFileSync(at('cmp', 'summary.json'), 'utf8')) as { task: string };
    expect(summary.task).toBe('files');
    // Extending the comparison after its reward module changed is refused in one line, unless allowed.
    writeFileSync(at('kw-compare.mjs'), `${readFileSync(KEYWORDS, 'utf8')}\n// edited\n`);
    const refused = await runHere(compareArgs);
    expect(oneLine(refused)).toMatch(
      new RegExp(
        `^grpovi: reward module ${at('kw-compare.mjs')} changed since default/grpo/seed-0 started .*--allow-changed-files`,
      ),
    );
    const allowed = await runHere([...compareArgs, '--allow-changed-files']);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain('4 finished (skipped)');
  });

  it('sample prints completions of a run folder as JSON, same seed same lines, with the rewards', async () => {
    const args = [
      'sample',
      '--policy',
      at('full'),
      '--prompts',
      PROMPTS,
      '--n',
      '2',
      '--json',
      '--reward',
      KEYWORDS,
      '--max-new-tokens',
      '5',
    ];
    const a = await runHere(args);
    const b = await runHere(args);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const lines = a.stdout
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { prompt: string; prompt_text: string; completion: string; reward: number },
      );
    expect(lines).toHaveLength(60);
    expect(lines[0].prompt).toBe(lines[1].prompt);
    // The prompt as the file gives it, and the text the word-level policy read.
    expect(lines[0].prompt.toLowerCase()).toContain('the garden in spring');
    expect(lines[0].prompt_text).toBe('the garden in spring is');
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(['prompt', 'prompt_text', 'completion', 'reward', 'rewards']);
      expect(line.completion.split(' ').length).toBeLessThanOrEqual(5);
    }
    const greedy = await run([
      'sample',
      '--policy',
      at('policy'),
      '--prompt',
      'The garden',
      '--greedy',
      '--n',
      '2',
    ]);
    expect(greedy.code, greedy.stderr).toBe(0);
    const [g1, g2] = greedy.stdout.trim().split('\n');
    expect(g1).toBe(g2);
    expect(g1.startsWith('the garden | ')).toBe(true);
  });

  it('a task module trains through --task FILE', () => {
    expect(module.code, module.stderr).toBe(0);
    expect(module.stdout).toContain('trained 2 steps');
  });
});

describe('bad input: one line naming the file, line or field and the value; exit 2; no run folder', () => {
  const train = (extra: string[], out = at(`bad-${Math.random().toString(36).slice(2)}`)) => ({
    out,
    done: () =>
      runHere(['train', '--policy', at('policy'), '--steps', '1', '--out', out, ...SMALL, ...extra]),
  });

  it('refuses broken prompt files and reward modules before writing anything', async () => {
    const notJson = file('not-json.jsonl', '{"prompt": "a"}\n{"prompt": "b",}\n');
    const noPrompt = file('no-prompt.jsonl', '{"prompt": "a"}\n{"question": "b"}\n');
    const empty = file('empty.jsonl', '');
    const noExport = file('no-export.mjs', 'export const x = 1;\n');
    const throws = file('throws.mjs', 'throw new Error("cannot connect");\n');
    const wrongCount = file('wrong-count.mjs', 'export default (p, c) => [0.5];\n');
    const strings = file('strings.mjs', 'const f = (p, c) => c.map(() => "high"); export default f;\n');
    const cases: [string[], RegExp][] = [
      [
        ['--prompts', notJson, '--reward', KEYWORDS],
        new RegExp(`^grpovi: ${notJson} line 2: is not valid JSON \\(`),
      ],
      [
        ['--prompts', noPrompt, '--reward', KEYWORDS],
        new RegExp(
          `^grpovi: ${noPrompt} line 2: needs a "prompt" string or a list of \\{"role", "content"\\} messages \\(missing\\)$`,
        ),
      ],
      [['--prompts', empty, '--reward', KEYWORDS], new RegExp(`^grpovi: ${empty}: holds no prompts`)],
      [
        ['--prompts', PROMPTS, '--reward', at('missing.mjs')],
        /^grpovi: .*missing\.mjs: reward module not found \(no such file\)$/,
      ],
      [
        ['--prompts', PROMPTS, '--reward', noExport],
        /no-export\.mjs: the default export must be a function .*\(no default export\)$/,
      ],
      [
        ['--prompts', PROMPTS, '--reward', throws],
        /throws\.mjs: reward module failed to load: cannot connect$/,
      ],
      [
        ['--prompts', PROMPTS, '--reward', wrongCount],
        /^grpovi: training stopped: reward function "wrong-count" returned 1 scores for 3 completions$/,
      ],
      [
        ['--prompts', PROMPTS, '--reward', strings],
        /reward function "f" returned a string \("high"\) for sample 0/,
      ],
      [
        ['--prompts', PROMPTS, '--reward-model', join(ROOT, 'assets', 'sentiment-reward-model')],
        /have different vocabularies \(token \d+ is /,
      ],
    ];
    for (const [extra, message] of cases) {
      const attempt = train(extra);
      expect(oneLine(await attempt.done()), extra.join(' ')).toMatch(message);
      expect(existsSync(attempt.out), attempt.out).toBe(false);
    }
  });

  it('refuses inputs a built-in task would ignore', async () => {
    const policyToy = await runHere(['train', '--task', 'toy', '--policy', at('policy'), '--out', at('x1')]);
    const promptsSentiment = await runHere([
      'train',
      '--task',
      'sentiment',
      '--prompts',
      PROMPTS,
      '--out',
      at('x2'),
    ]);
    expect(oneLine(policyToy)).toBe(
      `grpovi: --policy cannot be used with the task "toy": it starts from a freshly initialized policy and would ignore ${at('policy')}`,
    );
    expect(oneLine(promptsSentiment)).toMatch(
      /^grpovi: --prompts cannot be used with the built-in task "sentiment"/,
    );
    expect(existsSync(at('x1')) || existsSync(at('x2'))).toBe(false);
  });

  it('refuses a preference file broken at a line and warns about prompts the policy does not know', async () => {
    const broken = file(
      'prefs.jsonl',
      '{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "chosen": "b"}\n',
    );
    const strange = file('strange.txt', 'zebra quantum the garden\nxylophone the river\n');
    const [prefs, warned] = await Promise.all([
      run(['train-rm', '--preferences', broken, '--policy', at('policy'), '--out', at('rm-bad')]),
      run([
        'train',
        '--prompts',
        strange,
        '--reward',
        KEYWORDS,
        '--policy',
        at('policy'),
        '--out',
        at('strange'),
        '--print-config',
      ]),
    ]);
    expect(oneLine(prefs)).toBe(`grpovi: ${broken} line 2: needs a "rejected" string (missing)`);
    expect(existsSync(at('rm-bad'))).toBe(false);
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(
      /warning: 42\.9% of the words of the prompts are unknown to the policy's \d+-token vocabulary and read as <unk> \(e\.g\. "/,
    );
  });
});
