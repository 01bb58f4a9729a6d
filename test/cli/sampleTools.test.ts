import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/nn/tokenizers/chatTemplate.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { encodeSafetensors, type NamedTensor } from '../../src/nn/weights/safetensors.js';
import { chatTemplateFor } from '../../src/tasks/sources/chatPrompts.js';
import { loadToolModule } from '../../src/train/tools/toolModule.js';
import { makeFixtures, PYTHON, SKIP_REASON } from '../nn/hfFixtures.js';
import { CLI_BIN, type ProcessRun, ROOT, runNode } from './cliBin.js';

/**
 * `grpovi sample --tools` and `--chat-template` checks through the CLI. The tool-calling policy is a
 * GPT-2 folder whose output depends on the position only (every block's projections are zero, the
 * token table is zero, position p holds 10 * e_(p mod W)), so that greedy decoding writes a scripted
 * tool call after the prompt and then <|im_end|> at every later position: after the tool turn it
 * ends at once. It reads the ChatML tokenizer and Qwen2.5 template of the qwen2-chat fixture.
 */
const W = 96;
const IM_END = 50258;
const VOCAB = 50259;
const CALL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "2 + 3"}}\n</tool_call>';
const CALCULATOR = join(ROOT, 'examples', 'tools', 'calculator.mjs');
const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2 + 3?' }];

function zeros(shape: number[]): NamedTensor {
  return { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}
function ones(n: number): NamedTensor {
  return { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(1) };
}

/** Writes the scripted folder: `script[i]` is the token written after the prompt's `promptLength` tokens plus i. */
function writeScriptedGpt2(dir: string, chatFixture: string, promptLength: number, script: number[]): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    copyFileSync(join(chatFixture, f), join(dir, f));
  const contextLength = 512;
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      vocab_size: VOCAB,
      n_positions: contextLength,
      n_embd: W,
      n_layer: 1,
      n_head: 1,
      tie_word_embeddings: false,
      bos_token_id: 50256,
      eos_token_id: 50256,
    }),
  );
  const wpe = zeros([contextLength, W]);
  for (let p = 0; p < contextLength; p++) wpe.data[p * W + (p % W)] = 10;
  const head = zeros([VOCAB, W]);
  // The logits at position p predict the token at p + 1.
  script.forEach((token, i) => {
    const p = promptLength - 1 + i;
    head.data[token * W + (p % W)] = 5;
  });
  const t = 'transformer.';
  const tensors: Record<string, NamedTensor> = {
    [`${t}wte.weight`]: zeros([VOCAB, W]),
    [`${t}wpe.weight`]: wpe,
    [`${t}h.0.ln_1.weight`]: ones(W),
    [`${t}h.0.ln_1.bias`]: zeros([W]),
    [`${t}h.0.attn.c_attn.weight`]: zeros([W, 3 * W]),
    [`${t}h.0.attn.c_attn.bias`]: zeros([3 * W]),
    [`${t}h.0.attn.c_proj.weight`]: zeros([W, W]),
    [`${t}h.0.attn.c_proj.bias`]: zeros([W]),
    [`${t}h.0.ln_2.weight`]: ones(W),
    [`${t}h.0.ln_2.bias`]: zeros([W]),
    [`${t}h.0.mlp.c_fc.weight`]: zeros([W, 4 * W]),
    [`${t}h.0.mlp.c_fc.bias`]: zeros([4 * W]),
    [`${t}h.0.mlp.c_proj.weight`]: zeros([4 * W, W]),
    [`${t}h.0.mlp.c_proj.bias`]: zeros([W]),
    [`${t}ln_f.weight`]: ones(W),
    [`${t}ln_f.bias`]: zeros([W]),
    'lm_head.weight': head,
  };
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
}

interface SampleLine {
  prompt: unknown;
  prompt_text: string;
  completion: string;
  messages?: ChatMessage[];
  tool_calls?: number;
  tool_failures?: number;
}

describe.skipIf(PYTHON === undefined)(`sample --tools and --chat-template (${SKIP_REASON})`, () => {
  let root = '';
  let cleanup = () => {};
  let dir = '';
  let scripted = '';
  const at = (...parts: string[]) => join(dir, ...parts);
  const run = (args: string[]): Promise<ProcessRun> => runNode([CLI_BIN, ...args], { cwd: dir });
  const oneLine = (r: ProcessRun) => {
    expect(r.code, r.stderr).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  };
  const lines = (r: ProcessRun): SampleLine[] => {
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SampleLine);
  };

  beforeAll(async () => {
    ({ root, cleanup } = makeFixtures(['qwen2-chat']));
    dir = mkdtempSync(join(tmpdir(), 'grpovi-sample-tools-'));
    writeFileSync(at('chat.jsonl'), `${JSON.stringify({ prompt: QUESTION })}\n`);
    writeFileSync(at('plain.jsonl'), '{"prompt": "What is 2 + 3?"}\n');
    writeFileSync(
      at('slow.mjs'),
      // The calculator's schema (the same prompt, so the same scripted call), answered too late.
      `import { calculator as quick } from ${JSON.stringify(CALCULATOR)};
export function calculator() { return new Promise((done) => setTimeout(() => done('late'), 5000)); }
calculator.description = quick.description;
calculator.parameters = quick.parameters;
`,
    );
    writeFileSync(at('plain.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}');
    // The prompt's length as the policy reads it: the template with the tools, no added special tokens.
    const chat = join(root, 'qwen2-chat');
    const { tokenizer } = loadPolicyFolder(chat);
    const tools = await loadToolModule(CALCULATOR);
    const text = chatTemplateFor(tokenizer, chat, undefined, true).render(QUESTION, { tools: tools.schemas });
    const promptLength = tokenizer.encode(text, { addSpecialTokens: false }).length;
    const call = [...tokenizer.encode(CALL, { addSpecialTokens: false }), IM_END];
    scripted = at('scripted');
    writeScriptedGpt2(scripted, chat, promptLength, [
      ...call,
      ...Array.from({ length: W - call.length }, () => IM_END),
    ]);
  });
  afterAll(() => {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const toolSample = (...extra: string[]) =>
    run([
      'sample',
      '--policy',
      scripted,
      '--prompts',
      at('chat.jsonl'),
      '--tools',
      CALCULATOR,
      '--greedy',
      '--max-new-tokens',
      '80',
      '--json',
      ...extra,
    ]);

  it("runs the policy's tool call and prints the added conversation and the counts", async () => {
    const r = await toolSample();
    const [line] = lines(r);
    expect(line.prompt).toEqual(QUESTION);
    // The template rendered the calculator's schema into the prompt.
    expect(line.prompt_text).toContain('"name": "calculator"');
    expect(line.tool_calls).toBe(1);
    expect(line.tool_failures).toBe(0);
    expect(line.messages).toHaveLength(3);
    const [assistant, tool, answer] = line.messages as ChatMessage[];
    expect(assistant).toEqual({
      role: 'assistant',
      content: '',
      tool_calls: [
        { type: 'function', function: { name: 'calculator', arguments: { expression: '2 + 3' } } },
      ],
    });
    // calculator('2 + 3') as the example tool computes it.
    expect(tool).toEqual({ role: 'tool', name: 'calculator', content: '5' });
    expect(answer.role).toBe('assistant');
    // The completion holds the call, then the tool turn as the template writes it.
    expect(line.completion).toContain(CALL);
    expect(line.completion).toContain('<tool_response>\n5\n</tool_response>');
    expect(r.stderr).toContain(`tools (calculator from ${CALCULATOR}): 1 call over 1 completion, 0 failed`);
  }, 120_000);

  it('--max-tool-calling-iterations 0 runs no tool; --tool-timeout fails a slow one', async () => {
    const [none] = lines(await toolSample('--max-tool-calling-iterations', '0'));
    expect(none.tool_calls).toBe(0);
    expect(none.messages).toHaveLength(1);
    expect(none.messages?.[0].content).toContain('"expression": "2 + 3"');
    const slow = await run([
      'sample',
      '--policy',
      scripted,
      '--prompts',
      at('chat.jsonl'),
      '--tools',
      at('slow.mjs'),
      '--tool-timeout',
      '0.2',
      '--greedy',
      '--max-new-tokens',
      '80',
      '--json',
    ]);
    const [timedOut] = lines(slow);
    expect(timedOut.tool_calls).toBe(1);
    expect(timedOut.tool_failures).toBe(1);
    expect(timedOut.messages?.[1]).toEqual({
      role: 'tool',
      name: 'calculator',
      content: 'error: timed out after 200 ms',
    });
    expect(slow.stderr).toContain('1 call over 1 completion, 1 failed');
  }, 120_000);

  it('--tools with plain prompts, or tool flags without --tools: one line, exit 2, nothing printed', async () => {
    const plain = await run([
      'sample',
      '--policy',
      scripted,
      '--prompts',
      at('plain.jsonl'),
      '--tools',
      CALCULATOR,
    ]);
    expect(oneLine(plain)).toContain(`--tools ${CALCULATOR} needs conversational prompts`);
    expect(plain.stdout).toBe('');
    const flag = await run(['sample', '--policy', scripted, '--prompt', 'hi', '--tool-timeout', '2']);
    expect(oneLine(flag)).toBe('grpovi: --tool-timeout needs --tools MODULE');
  }, 120_000);

  it('--chat-template that does not resolve is refused with plain prompts too; one that resolves is noted as unused', async () => {
    const chat = join(root, 'qwen2-chat');
    const sample = (template: string) =>
      run([
        'sample',
        '--policy',
        chat,
        '--prompt',
        'hello',
        '--max-new-tokens',
        '2',
        '--chat-template',
        template,
      ]);
    const missing = await sample('missing.jinja');
    expect(oneLine(missing)).toContain(
      `--chat-template missing.jinja: no such file, and the policy ${chat} has no chat template of that name (it has "default")`,
    );
    expect(missing.stdout).toBe('');
    // A grpovi policy has no named templates at all.
    const grpovi = join(ROOT, 'assets', 'sentiment-policy');
    expect(
      oneLine(
        await run(['sample', '--policy', grpovi, '--prompt', 'the film', '--chat-template', 'tool_use']),
      ),
    ).toContain(
      `--chat-template tool_use: no such file, and the policy ${grpovi} has no named chat templates`,
    );
    for (const template of [at('plain.jinja'), 'default']) {
      const used = await sample(template);
      expect(used.code, used.stderr).toBe(0);
      expect(used.stdout.trim().split('\n')).toHaveLength(1);
      const notes = used.stderr.split('\n').filter((l) => l.includes('is unused'));
      expect(notes).toEqual([expect.stringContaining(`grpovi: --chat-template ${template} (`)]);
      expect(notes[0]).toContain('the prompts are plain text');
    }
  }, 120_000);

  it('train: the same checks on plain prompts, and built-in tasks refuse --chat-template and --tools', async () => {
    const chat = join(root, 'qwen2-chat');
    writeFileSync(at('reward.mjs'), 'export default (p, c) => c.map((x) => x.length % 2);\n');
    writeFileSync(
      at('plain2.jsonl'),
      '{"prompt": "What is 2 + 3?"}\n{"prompt": "What is 1 + 1?"}\n{"prompt": "What is 4 + 4?"}\n',
    );
    const train = (out: string, ...extra: string[]) =>
      run([
        'train',
        '--prompts',
        at('plain2.jsonl'),
        '--reward',
        at('reward.mjs'),
        '--policy',
        chat,
        '--steps',
        '1',
        '--prompts-per-step',
        '1',
        '--group-size',
        '2',
        '--max-completion-length',
        '2',
        '--eval-every',
        '0',
        '--quiet',
        '--out',
        at(out),
        ...extra,
      ]);
    const refused = await train('refused', '--chat-template', 'nope');
    expect(oneLine(refused)).toContain('--chat-template nope: no such file');
    expect(existsSync(at('refused'))).toBe(false);
    const noted = await train('noted', '--chat-template', at('plain.jinja'));
    expect(noted.code, noted.stderr).toBe(0);
    expect(noted.stderr.split('\n').filter((l) => l.includes('is unused'))).toHaveLength(1);
    for (const extra of [
      ['--chat-template', at('plain.jinja')],
      ['--tools', CALCULATOR],
    ]) {
      const builtIn = await run(['train', '--task', 'toy', '--steps', '1', '--out', at('toy'), ...extra]);
      expect(oneLine(builtIn)).toContain(`${extra.join(' ')} cannot be used with the built-in task "toy"`);
      expect(existsSync(at('toy'))).toBe(false);
    }
  }, 240_000);
});
