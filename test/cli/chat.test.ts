import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFixtures, PYTHON, SKIP_REASON } from '../nn/hfFixtures.js';
import { latestWeights, metricsWithoutTiming } from '../train/helpers.js';
import { CLI_BIN, type ProcessRun, ROOT, runNode } from './cliBin.js';

/**
 * Conversational prompts through the CLI on the tiny Qwen2-shaped chat fixture (ChatML tokens, the
 * Qwen2.5 template, generation_config.json ending turns at <|im_end|>).
 */
const SMALL = ['--prompts-per-step', '2', '--group-size', '2', '--max-completion-length', '4', '--quiet'];

const conversations = [
  [{ role: 'user', content: 'What is 2 + 3?' }],
  [
    { role: 'system', content: 'Answer with a number.' },
    { role: 'user', content: 'What is 4 + 4?' },
  ],
  [{ role: 'user', content: 'What is 7 - 2?' }],
  [{ role: 'user', content: 'What is 1 + 1?' }],
  [{ role: 'user', content: 'What is 3 * 3?' }],
  [{ role: 'user', content: 'What is 9 - 4?' }],
];

/**
 * A reward module that checks what it receives, as TRL hands conversational data: prompts as the
 * file's messages, completions as one assistant message, rows with the prompt's columns. Anything
 * else throws, and the run fails.
 */
const CHECKING_REWARD = `
export default function conversational(prompts, completions, rows) {
  return prompts.map((prompt, i) => {
    if (!Array.isArray(prompt) || prompt.at(-1).role !== 'user') throw new Error('prompt is not messages: ' + JSON.stringify(prompt));
    if (JSON.stringify(rows[i].prompt) !== JSON.stringify(prompt)) throw new Error('rows do not match the prompts');
    const c = completions[i];
    if (!Array.isArray(c) || c.length !== 1 || c[0].role !== 'assistant' || typeof c[0].content !== 'string')
      throw new Error('completion is not [{role: assistant, content}]: ' + JSON.stringify(c));
    return c[0].content.length % 2;
  });
}
conversational.range = [0, 1];
`;

describe.skipIf(PYTHON === undefined)(`conversational prompts through the CLI (${SKIP_REASON})`, () => {
  let root = '';
  let cleanup = () => {};
  let dir = '';
  const at = (...parts: string[]) => join(dir, ...parts);
  const run = (args: string[]): Promise<ProcessRun> => runNode([CLI_BIN, ...args], { cwd: dir });
  const oneLine = (r: ProcessRun) => {
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  beforeAll(() => {
    ({ root, cleanup } = makeFixtures(['qwen2-chat']));
    dir = mkdtempSync(join(tmpdir(), 'grpovi-chat-cli-'));
    writeFileSync(
      at('chat.jsonl'),
      `${conversations.map((prompt, i) => JSON.stringify({ prompt, id: i })).join('\n')}\n`,
    );
    writeFileSync(at('reward.mjs'), CHECKING_REWARD);
  });
  afterAll(() => {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('trains on conversations: rewards get messages, samples.jsonl holds the rendered prompts', async () => {
    const policy = join(root, 'qwen2-chat');
    const out = at('run');
    const r = await run([
      'train',
      '--prompts',
      at('chat.jsonl'),
      '--reward',
      at('reward.mjs'),
      '--policy',
      policy,
      '--steps',
      '2',
      '--eval-every',
      '1',
      '--out',
      out,
      ...SMALL,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`conversational prompts: rendered with the chat template of ${policy}`);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(metrics.length).toBeGreaterThanOrEqual(2);
    const samples = readFileSync(join(out, 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { prompt: string });
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(s.prompt).toMatch(
        /^<\|im_start\|>system\n[^]*<\|im_start\|>user\nWhat is [^]*<\|im_end\|>\n<\|im_start\|>assistant\n$/,
      );
    }
    // The config records the choice, so that --resume and compare render the same way.
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.prompts).toBe(at('chat.jsonl'));
  }, 240_000);

  it('--resume continues a conversational run exactly as the straight run goes', async () => {
    const policy = join(root, 'qwen2-chat');
    const common = ['--prompts', at('chat.jsonl'), '--reward', at('reward.mjs'), '--policy', policy];
    const common2 = ['--eval-every', '2', ...SMALL];
    const straight = await run(['train', ...common, '--steps', '4', '--out', at('straight'), ...common2]);
    expect(straight.code, straight.stderr).toBe(0);
    const half = await run(['train', ...common, '--steps', '2', '--out', at('half'), ...common2]);
    expect(half.code, half.stderr).toBe(0);
    const resumed = await run(['train', '--resume', at('half'), '--steps', '4']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming at step 2 of 4');
    expect(Buffer.compare(latestWeights(at('half')), latestWeights(at('straight')))).toBe(0);
    expect(metricsWithoutTiming(at('half'))).toEqual(metricsWithoutTiming(at('straight')));
    expect(readFileSync(at('half', 'config.json'), 'utf8')).toBe(
      readFileSync(at('straight', 'config.json'), 'utf8'),
    );
    expect(readFileSync(at('half', 'samples.jsonl'), 'utf8')).toBe(
      readFileSync(at('straight', 'samples.jsonl'), 'utf8'),
    );
  }, 240_000);

  it('compare runs on conversational prompts and its samples hold the rendered prompts', async () => {
    const out = at('cmp');
    // compare takes the sizes through a config file (its flags are the run-defining ones).
    writeFileSync(
      at('small.json'),
      JSON.stringify({ prompts_per_step: 2, num_generations: 2, max_completion_length: 4 }),
    );
    const r = await run([
      'compare',
      '--prompts',
      at('chat.jsonl'),
      '--reward',
      at('reward.mjs'),
      '--policy',
      join(root, 'qwen2-chat'),
      '--seeds',
      '1',
      '--steps',
      '2',
      '--config',
      at('small.json'),
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
    for (const algo of ['grpo', 'grpovi']) {
      const samples = readFileSync(join(out, 'default', algo, 'seed-0', 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { prompt: string });
      expect(samples.length).toBeGreaterThan(0);
      for (const s of samples) {
        expect(s.prompt).toMatch(
          /^<\|im_start\|>system\n[^]*<\|im_start\|>user\nWhat is [^]*<\|im_start\|>assistant\n$/,
        );
      }
    }
  }, 240_000);

  it('sample --json prints the messages as given and the rendered prompt_text; --chat-template FILE overrides', async () => {
    const policy = join(root, 'qwen2-chat');
    writeFileSync(
      at('plain.jinja'),
      '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant] ',
    );
    const base = [
      'sample',
      '--policy',
      policy,
      '--prompts',
      at('chat.jsonl'),
      '--json',
      '--max-new-tokens',
      '3',
    ];
    const own = await run(base);
    expect(own.code, own.stderr).toBe(0);
    const lines = own.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { prompt: unknown; prompt_text: string });
    expect(lines.map((l) => l.prompt)).toEqual(conversations);
    expect(lines[1].prompt_text).toBe(
      '<|im_start|>system\nAnswer with a number.<|im_end|>\n<|im_start|>user\nWhat is 4 + 4?<|im_end|>\n<|im_start|>assistant\n',
    );
    const overridden = await run([...base, '--chat-template', at('plain.jinja')]);
    expect(overridden.code, overridden.stderr).toBe(0);
    const first = JSON.parse(overridden.stdout.split('\n')[1]) as { prompt_text: string };
    expect(first.prompt_text).toBe('[system] Answer with a number.\n[user] What is 4 + 4?\n[assistant] ');
  }, 120_000);

  it('a policy without a chat template: one line naming the folder, exit 2, no run folder', async () => {
    const bare = at('no-template');
    cpSync(join(root, 'qwen2-chat'), bare, { recursive: true });
    const config = JSON.parse(readFileSync(join(bare, 'tokenizer_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    delete config.chat_template;
    writeFileSync(join(bare, 'tokenizer_config.json'), JSON.stringify(config));
    const out = at('refused');
    const line = oneLine(
      await run([
        'train',
        '--prompts',
        at('chat.jsonl'),
        '--reward',
        at('reward.mjs'),
        '--policy',
        bare,
        '--out',
        out,
        ...SMALL,
      ]),
    );
    expect(line).toContain(`the policy ${bare} has no chat template`);
    expect(line).toContain('--chat-template FILE');
    expect(existsSync(out)).toBe(false);
    const unknown = oneLine(
      await run(['sample', '--policy', bare, '--prompts', at('chat.jsonl'), '--chat-template', 'tool_use']),
    );
    expect(unknown).toContain(
      `--chat-template tool_use: no such file, and the policy ${bare} has no named chat templates`,
    );
  }, 120_000);

  it('--tools: the template renders the tools into the prompts, the run logs the tool metrics', async () => {
    const example = join(ROOT, 'examples', 'tools');
    const out = at('tools-run');
    const r = await run([
      'train',
      '--prompts',
      join(example, 'prompts.jsonl'),
      '--reward',
      join(example, 'reward.mjs'),
      '--tools',
      join(example, 'calculator.mjs'),
      '--policy',
      join(root, 'qwen2-chat'),
      '--steps',
      '1',
      '--eval-every',
      '1',
      '--out',
      out,
      ...SMALL,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`tools: calculator from ${join(example, 'calculator.mjs')}`);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    const step = metrics.find((m) => m['tools/call_frequency'] !== undefined);
    expect(step?.['tools/failure_frequency']).toBeGreaterThanOrEqual(0);
    // Dynamic sampling logs them too, beside its own metrics, in the same training step's row.
    const dynamicOut = at('tools-dynamic');
    const dynamic = await run([
      'train',
      '--prompts',
      join(example, 'prompts.jsonl'),
      '--reward',
      join(example, 'reward.mjs'),
      '--tools',
      join(example, 'calculator.mjs'),
      '--policy',
      join(root, 'qwen2-chat'),
      '--steps',
      '1',
      '--dynamic-sampling',
      '--dynamic-sampling-max-rounds',
      '1',
      '--out',
      dynamicOut,
      ...SMALL,
    ]);
    expect(dynamic.code, dynamic.stderr).toBe(0);
    const dynamicStep = readFileSync(join(dynamicOut, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>)
      .find((m) => m['dynamic_sampling/rounds'] !== undefined);
    expect(dynamicStep?.['tools/call_frequency']).toBeGreaterThanOrEqual(0);
    expect(dynamicStep?.['tools/failure_frequency']).toBeGreaterThanOrEqual(0);
    const sample = JSON.parse(readFileSync(join(out, 'samples.jsonl'), 'utf8').split('\n')[0]) as {
      prompt: string;
    };
    // Qwen2.5's tool preamble with the calculator's schema as the template writes it (tojson).
    expect(sample.prompt).toContain('# Tools\n\nYou may call one or more functions');
    expect(sample.prompt).toContain(
      '{"type": "function", "function": {"name": "calculator", "description": ',
    );
    // Tools need conversations: plain prompts are refused in one line.
    writeFileSync(
      at('plain.jsonl'),
      '{"prompt": "What is 2 + 2?", "answer": "4"}\n{"prompt": "What is 1 + 1?", "answer": "2"}\n',
    );
    const refused = oneLine(
      await run([
        'train',
        '--prompts',
        at('plain.jsonl'),
        '--reward',
        join(example, 'reward.mjs'),
        '--tools',
        join(example, 'calculator.mjs'),
        '--policy',
        join(root, 'qwen2-chat'),
        '--out',
        at('tools-refused'),
        ...SMALL,
      ]),
    );
    expect(refused).toContain(`--tools ${join(example, 'calculator.mjs')} needs conversational prompts`);
  }, 240_000);

  it('max_prompt_length cuts prompts from the left and says how many', async () => {
    const r = await run([
      'train',
      '--prompts',
      at('chat.jsonl'),
      '--reward',
      at('reward.mjs'),
      '--policy',
      join(root, 'qwen2-chat'),
      '--steps',
      '1',
      '--max-prompt-length',
      '12',
      '--out',
      at('truncated'),
      ...SMALL,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('max_prompt_length 12 truncates 6 of the 6 prompts');
  }, 120_000);
});
