import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type ChatMessage,
  ChatTemplate,
  ChatTemplateError,
  type ChatToolSchema,
  chatTemplatesOf,
  isConversation,
  pickChatTemplate,
  specialTokenStrings,
} from '../../src/nn/tokenizers/chatTemplate.js';

/**
 * Real chat templates (written from their published tokenizer_config.json text) rendered by grpovi
 * (@huggingface/jinja) against Python's jinja2 set up as transformers sets it up
 * (scripts/chat-templates/render.py).
 */
const FIXTURES = fileURLToPath(new URL('./chat-templates/', import.meta.url));
const RENDER = fileURLToPath(new URL('../../scripts/chat-templates/render.py', import.meta.url));
const PYTHON = ['/usr/bin/python3', 'python3'].find(
  (p) => spawnSync(p, ['-c', 'import jinja2'], { stdio: 'ignore' }).status === 0,
);

function fixture(name: string): { config: Record<string, unknown>; template: ChatTemplate } {
  const config = JSON.parse(readFileSync(`${FIXTURES}${name}.json`, 'utf8')) as Record<string, unknown>;
  const text = pickChatTemplate(chatTemplatesOf(config, undefined, name), { source: name });
  return { config, template: new ChatTemplate(text, specialTokenStrings(config), name) };
}

interface Case {
  messages: ChatMessage[];
  tools?: ChatToolSchema[];
  add_generation_prompt?: boolean;
}

function pythonRenders(name: string, cases: readonly Case[]): (string | { error: string })[] {
  const { config, template } = fixture(name);
  const input = cases.map((c) => ({
    template: template.text,
    special_tokens: specialTokenStrings(config),
    messages: c.messages,
    tools: c.tools ?? null,
    add_generation_prompt: c.add_generation_prompt ?? true,
  }));
  return JSON.parse(
    execFileSync(PYTHON as string, [RENDER], { input: JSON.stringify(input), encoding: 'utf8' }),
  ) as (string | { error: string })[];
}

const calculator: ChatToolSchema = {
  type: 'function',
  function: {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression such as "12 * (3 + 4)".',
    parameters: {
      type: 'object',
      properties: { expression: { type: 'string', description: 'the expression' } },
      required: ['expression'],
    },
  },
};

const plainCases: Case[] = [
  { messages: [{ role: 'user', content: 'What is 2 + 2?' }] },
  {
    messages: [
      { role: 'system', content: '  Answer briefly.  ' },
      { role: 'user', content: 'Name a colour.\n' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Größe? « ünïcode » 你好 ✓' },
    ],
  },
  { messages: [{ role: 'user', content: 'no generation prompt' }], add_generation_prompt: false },
];

const toolCases: Case[] = [
  { messages: [{ role: 'user', content: 'What is 17 * 23?' }], tools: [calculator] },
  {
    messages: [
      { role: 'system', content: 'Use the calculator.' },
      { role: 'user', content: 'What is 17 * 23?' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { type: 'function', function: { name: 'calculator', arguments: { expression: '17 * 23' } } },
        ],
      },
      { role: 'tool', name: 'calculator', content: '391' },
    ],
    tools: [calculator],
  },
];

describe.skipIf(PYTHON === undefined)('chat templates against jinja2 with transformers settings', () => {
  for (const name of ['qwen2.5', 'smollm2', 'llama3', 'llama3.1']) {
    it(`${name}: the same text as jinja2 for plain conversations`, () => {
      const { template } = fixture(name);
      const expected = pythonRenders(name, plainCases);
      plainCases.forEach((c, i) => {
        const got = template.render(c.messages, { addGenerationPrompt: c.add_generation_prompt });
        expect(got).toBe(expected[i]);
      });
    });
  }

  for (const name of ['qwen2.5', 'llama3.1']) {
    it(`${name}: the same text as jinja2 with tools, tool calls and tool messages`, () => {
      const { template } = fixture(name);
      const expected = pythonRenders(name, toolCases);
      toolCases.forEach((c, i) => {
        expect(typeof expected[i]).toBe('string');
        expect(template.render(c.messages, { tools: c.tools })).toBe(expected[i]);
      });
    });
  }

  it('qwen2.5 renders its published default system prompt (a check on the fixture itself)', () => {
    const text = fixture('qwen2.5').template.render([{ role: 'user', content: 'Hi' }]);
    expect(text).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('raise_exception in a template is an error naming the source, as jinja2 raises one', () => {
    const c: Case = {
      messages: [{ role: 'system', content: 'only a system message' }],
      tools: [calculator],
    };
    const [expected] = pythonRenders('llama3.1', [c]);
    expect(expected).toEqual({ error: expect.stringContaining('no first user message') });
    expect(() => fixture('llama3.1').template.render(c.messages, { tools: c.tools })).toThrow(
      /llama3\.1: the chat template failed .*no first user message/,
    );
  });
});

describe('choosing a template', () => {
  const named = new Map([
    ['default', 'D'],
    ['tool_use', 'T'],
  ]);

  it('picks by name, then tool_use with tools, then default', () => {
    expect(pickChatTemplate(named, { name: 'tool_use', source: 'm' })).toBe('T');
    expect(pickChatTemplate(named, { withTools: true, source: 'm' })).toBe('T');
    expect(pickChatTemplate(named, { source: 'm' })).toBe('D');
  });

  it('several templates and no default need a name; an unknown name lists the names', () => {
    const several = new Map([
      ['a', 'A'],
      ['b', 'B'],
    ]);
    expect(() => pickChatTemplate(several, { source: 'dir' })).toThrow(/several chat templates .*"a", "b"/);
    expect(() => pickChatTemplate(several, { name: 'c', source: 'dir' })).toThrow(
      /dir has no chat template named "c" \(it has "a", "b"\)/,
    );
    expect(() => pickChatTemplate(new Map(), { source: 'dir' })).toThrow(ChatTemplateError);
  });

  it('reads a list of named templates, and chat_template.jinja before the config field', () => {
    const config = {
      chat_template: [
        { name: 'default', template: 'X' },
        { name: 'rag', template: 'R' },
      ],
    };
    expect([...chatTemplatesOf(config, undefined, 'm')]).toEqual([
      ['default', 'X'],
      ['rag', 'R'],
    ]);
    expect(chatTemplatesOf(config, 'J', 'm').get('default')).toBe('J');
    expect(() => chatTemplatesOf({ chat_template: 3 }, undefined, 'm')).toThrow(/"chat_template" must be/);
  });

  it('tells conversations from other values', () => {
    expect(isConversation([{ role: 'user', content: 'x' }])).toBe(true);
    expect(isConversation([])).toBe(false);
    expect(isConversation('text')).toBe(false);
    expect(isConversation([{ role: 'user' }])).toBe(false);
  });
});
