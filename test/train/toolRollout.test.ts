import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { setSharedPrefix } from '../../src/nn/generation/sharedPrefix.js';
import type { KvCache } from '../../src/nn/models/kvCache.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import type { SequenceInput } from '../../src/nn/models/sequenceBatch.js';
import type { ChatMessage } from '../../src/nn/tokenizers/chatTemplate.js';
import type { Tokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { chatTemplateFor } from '../../src/tasks/sources/chatPrompts.js';
import type { ToolSet } from '../../src/train/tools/toolModule.js';
import { toolRollout } from '../../src/train/tools/toolRollout.js';
import { Rng } from '../../src/util/rng.js';
import { makeFixtures, PYTHON, SKIP_REASON } from '../nn/hfFixtures.js';

const require = createRequire(import.meta.url);
const gpt3Encoder = require('gpt-3-encoder') as { encode(text: string): number[] };
const IM_START = 50257;
const IM_END = 50258;

/** Reference ids of a ChatML text: GPT-2 BPE between the special tokens (independent of @huggingface/tokenizers). */
function referenceIds(text: string): number[] {
  const special: Record<string, number> = { '<|im_start|>': IM_START, '<|im_end|>': IM_END };
  return text
    .split(/(<\|im_start\|>|<\|im_end\|>)/)
    .filter((part) => part !== '')
    .flatMap((part) => (part in special ? [special[part]] : gpt3Encoder.encode(part)));
}

/**
 * A policy whose tokens are scripted: it reads each row's whole context and writes, with probability
 * ~1, the next token of the turn `script` gives for that context. Its hidden state is the scripted
 * token id itself (width 1); `logits` turns it into a one-hot. No shared prefill (it keeps its own
 * per-row history, which a shared prefill would not show it).
 */
class ScriptedPolicy {
  readonly config: { vocabSize: number; contextLength: number; width: number };
  readonly specs = [];
  private history: number[][] = [];

  constructor(
    private readonly tokenizer: Tokenizer,
    vocabSize: number,
    private readonly script: (context: string, turn: number) => string,
  ) {
    this.config = { vocabSize, contextLength: 1024, width: 1 };
  }

  /** The next token of a context: the scripted turn's ids, then <|im_end|>. */
  private next(ids: readonly number[]): number {
    const role = gpt3Encoder.encode('assistant\n');
    let header = -1;
    let turn = -1;
    for (let i = 0; i + role.length < ids.length; i++) {
      if (ids[i] === IM_START && role.every((id, k) => ids[i + 1 + k] === id)) {
        header = i + 1 + role.length;
        turn++;
      }
    }
    const context = this.tokenizer.decode(ids.slice(0, header));
    const target = [
      ...this.tokenizer.encode(this.script(context, turn), { addSpecialTokens: false }),
      IM_END,
    ];
    return target[Math.min(ids.length - header, target.length - 1)];
  }

  forward(input: SequenceInput, past?: KvCache): { hidden: tf.Tensor2D; present: KvCache } {
    const { batchSize, length, ids } = input;
    if (past === undefined || past.length === 0) this.history = [];
    const out = new Float32Array(batchSize * length);
    for (let b = 0; b < batchSize; b++) {
      const row = Array.from(ids.subarray(b * length, (b + 1) * length));
      if (this.history[b] === undefined) this.history[b] = row.filter((t) => t !== this.tokenizer.padId);
      else this.history[b].push(...row);
      out[(b + 1) * length - 1] = this.next(this.history[b]);
    }
    // A non-empty cache tells the next call it is a decode step.
    const marker = tf.zeros([1, 1, 1]) as tf.Tensor3D;
    return { hidden: tf.tensor2d(out, [batchSize * length, 1]), present: [{ k: marker, v: marker.clone() }] };
  }

  outputProjection(): tf.Tensor2D {
    return tf.zeros([1, 1]);
  }

  logits(hidden: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(
      () => tf.oneHot(hidden.reshape([-1]).toInt(), this.config.vocabSize).mul(60) as tf.Tensor2D,
    );
  }

  variables() {
    return [];
  }
  assign(): void {}
  copy(): PolicyModel {
    return this as unknown as PolicyModel;
  }
  toTensors() {
    return {};
  }
  dispose(): void {}
}

/** Calls the calculator on the question, then answers with the tool's result. */
function calculatorScript(context: string, turn: number): string {
  if (turn === 0) {
    const question = /What is (.+?)\?/.exec(context)?.[1] ?? '';
    return `<tool_call>\n{"name": "calculator", "arguments": {"expression": ${JSON.stringify(question)}}}\n</tool_call>`;
  }
  const results = [...context.matchAll(/<tool_response>\n([^]*?)\n<\/tool_response>/g)];
  return `It is ${results.at(-1)?.[1] ?? 'unknown'}.`;
}

const calculator = Object.assign(
  (args: Record<string, unknown>) => {
    const expression = String(args.expression);
    if (!/^[\d\s+*/().-]+$/.test(expression)) throw new Error(`not arithmetic: ${expression}`);
    return String(Function(`"use strict"; return (${expression});`)());
  },
  {
    description: 'Evaluates an arithmetic expression.',
    parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'] },
  },
);

function toolSet(run: (args: Record<string, unknown>) => unknown): ToolSet {
  const schema = {
    type: 'function' as const,
    function: { name: 'calculator', description: calculator.description, parameters: calculator.parameters },
  };
  return { path: 'test', tools: [{ name: 'calculator', schema, run }], schemas: [schema] };
}

describe.skipIf(PYTHON === undefined)(`the tool-calling rollout (${SKIP_REASON})`, () => {
  let root = '';
  let cleanup = () => {};
  let tokenizer: Tokenizer;
  beforeAll(async () => {
    await selectBackend('wasm');
    setSharedPrefix(false);
    ({ root, cleanup } = makeFixtures(['qwen2-chat']));
    tokenizer = loadPolicyFolder(join(root, 'qwen2-chat')).tokenizer;
  });
  afterAll(() => {
    setSharedPrefix(true);
    cleanup();
  });

  const questions: ChatMessage[][] = [
    [{ role: 'user', content: 'What is 17 * 23?' }],
    [{ role: 'user', content: 'What is 2 + 40?' }],
  ];

  async function roll(run: (args: Record<string, unknown>) => unknown, maxIterations?: number, budget = 120) {
    const template = chatTemplateFor(tokenizer, join(root, 'qwen2-chat'), undefined, true);
    const tools = toolSet(run);
    const prompts = questions.map((q) => template.render(q, { tools: tools.schemas }));
    const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
    const policy = new ScriptedPolicy(tokenizer, 50259, calculatorScript) as unknown as PolicyModel;
    const ro = await toolRollout(
      policy,
      tokenizer,
      prompts,
      2,
      { maxNewTokens: budget, temperature: 1, topK: 0, topP: 1 },
      new Rng(3),
      encode,
      { template, tools, conversations: questions, maxIterations, timeoutMs: 200, encode },
    );
    return { ro, template, tools, prompts };
  }

  it('calls the tool, appends its message through the template, and the loss mask is 1 exactly on the policy tokens', async () => {
    const { ro, template, tools } = await roll(calculator);
    expect(ro.toolCalls).toBe(4);
    expect(ro.toolFailures).toBe(0);
    // Per row: one call each (the counts `sample --tools` prints per completion).
    expect(ro.rowToolCalls).toEqual([1, 1, 1, 1]);
    expect(ro.rowToolFailures).toEqual([0, 0, 0, 0]);
    for (let r = 0; r < 4; r++) {
      const question = questions[Math.floor(r / 2)];
      const expression = /What is (.+?)\?/.exec(question[0].content)?.[1] as string;
      const value = String(Function(`return (${expression});`)());
      expect(ro.completionMessages[r]).toEqual([
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ type: 'function', function: { name: 'calculator', arguments: { expression } } }],
        },
        { role: 'tool', name: 'calculator', content: value },
        { role: 'assistant', content: `It is ${value}.` },
      ]);
      // Token by token, against ids built independently from the texts Qwen2.5's format prescribes.
      const call = `<tool_call>\n{"name": "calculator", "arguments": {"expression": ${JSON.stringify(expression)}}}\n</tool_call>`;
      const expected = [
        ...referenceIds(call).map((id) => [id, 1]),
        [IM_END, 1],
        ...referenceIds(
          `\n<|im_start|>user\n<tool_response>\n${value}\n</tool_response><|im_end|>\n<|im_start|>assistant\n`,
        ).map((id) => [id, 0]),
        ...referenceIds(`It is ${value}.`).map((id) => [id, 1]),
        [IM_END, 1],
      ];
      const L = ro.batch.length;
      const len = ro.generation.lengths[r];
      const got = Array.from({ length: len }, (_, t) => [
        ro.batch.completions[r * L + t],
        ro.batch.mask[r * L + t],
      ]);
      expect(got).toEqual(expected);
      for (let t = len; t < L; t++) expect(ro.batch.mask[r * L + t]).toBe(0);
      expect(ro.generation.finished[r]).toBe(1);
      // Prompt and completion together are the template's whole conversation.
      const whole = template.render([...question, ...ro.completionMessages[r]], {
        addGenerationPrompt: false,
        tools: tools.schemas,
      });
      const ids = [...ro.batch.prompts[r], ...got.map(([id]) => id)];
      expect([...ids, ...gpt3Encoder.encode('\n')]).toEqual(referenceIds(whole));
    }
  });

  it('a tool that throws or times out becomes an error message and counts as a failure', async () => {
    const failing = await roll(() => {
      throw new Error('calculator offline');
    });
    expect(failing.ro.toolCalls).toBe(4);
    expect(failing.ro.toolFailures).toBe(4);
    expect(failing.ro.rowToolFailures).toEqual([1, 1, 1, 1]);
    expect(failing.ro.completionMessages[0][1]).toEqual({
      role: 'tool',
      name: 'calculator',
      content: 'error: calculator offline',
    });
    expect(failing.ro.completionMessages[0][2].content).toBe('It is error: calculator offline.');
    const slow = await roll(() => new Promise((resolve) => setTimeout(() => resolve('late'), 2000)));
    expect(slow.ro.toolFailures).toBe(4);
    expect(slow.ro.completionMessages[1][1].content).toBe('error: timed out after 200 ms');
  });

  it('max_tool_calling_iterations 0 calls no tool; a budget that ends in the tool turn leaves the row unfinished', async () => {
    const none = await roll(calculator, 0);
    expect(none.ro.toolCalls).toBe(0);
    expect(none.ro.rowToolCalls).toEqual([0, 0, 0, 0]);
    expect(none.ro.completionMessages[0]).toHaveLength(1);
    expect(none.ro.completionMessages[0][0].content).toContain('<tool_call>');
    expect(
      Array.from(none.ro.batch.mask.subarray(0, none.ro.generation.lengths[0])).every((m) => m === 1),
    ).toBe(true);
    const short = await roll(calculator, undefined, 30);
    expect(short.ro.generation.lengths[0]).toBe(30);
    expect(short.ro.generation.finished[0]).toBe(0);
  });
});
