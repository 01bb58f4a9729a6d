import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseToolCalls } from '../../src/nn/tokenizers/toolCalls.js';
import { callTool, loadToolModule } from '../../src/train/tools/toolModule.js';

describe('tool calls as model families write them', () => {
  it('Hermes / Qwen2.5: one or more <tool_call> blocks, the text around them as content', () => {
    expect(
      parseToolCalls(
        '<tool_call>\n{"name": "calculator", "arguments": {"expression": "2 + 2"}}\n</tool_call>',
      ),
    ).toEqual({ content: '', calls: [{ name: 'calculator', arguments: { expression: '2 + 2' } }] });
    const two = parseToolCalls(
      'Let me check.\n<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {"x": [1, 2]}}\n</tool_call>',
    );
    expect(two).toEqual({
      content: 'Let me check.',
      calls: [
        { name: 'a', arguments: {} },
        { name: 'b', arguments: { x: [1, 2] } },
      ],
    });
  });

  it('Llama 3.1: the whole message is {"name", "parameters"}, optionally after <|python_tag|>', () => {
    expect(parseToolCalls('{"name": "calculator", "parameters": {"expression": "3 * 3"}}')).toEqual({
      content: '',
      calls: [{ name: 'calculator', arguments: { expression: '3 * 3' } }],
    });
    expect(parseToolCalls('<|python_tag|>{"name": "f", "parameters": {}}').calls).toEqual([
      { name: 'f', arguments: {} },
    ]);
  });

  it('keeps a malformed call with its problem; text that merely holds JSON is no call', () => {
    const bad = parseToolCalls(
      '<tool_call>\n{"name": "calculator", "arguments": {"expression": }\n</tool_call>',
    );
    expect(bad.calls).toHaveLength(1);
    expect(bad.calls[0].problem).toMatch(/^the tool call is not valid JSON/);
    expect(parseToolCalls('<tool_call>{"arguments": {}}</tool_call>').calls[0].problem).toBe(
      'the tool call has no "name" string',
    );
    expect(parseToolCalls('The answer is {"value": 4}.')).toEqual({
      content: 'The answer is {"value": 4}.',
      calls: [],
    });
    expect(parseToolCalls('  It is 4.  ')).toEqual({ content: 'It is 4.', calls: [] });
  });
});

describe('tool modules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grpovi-tools-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads exported functions with description and parameters as tools, the schema chat templates take', async () => {
    const path = file(
      'ok.mjs',
      `export async function add({ a, b }) { return { sum: a + b }; }
       add.description = 'Adds two numbers.';
       add.parameters = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } };
       export const helper = 3;`,
    );
    const set = await loadToolModule(path);
    expect(set.schemas).toEqual([
      {
        type: 'function',
        function: {
          name: 'add',
          description: 'Adds two numbers.',
          parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
        },
      },
    ]);
    expect(await callTool(set, { name: 'add', arguments: { a: 2, b: 3 } }, 1000)).toEqual({
      content: '{"sum":5}',
      failed: false,
    });
    expect(await callTool(set, { name: 'mul', arguments: {} }, 1000)).toEqual({
      content: 'error: unknown tool "mul" (tools: add)',
      failed: true,
    });
  });

  it('names the file and the tool when a description or schema is missing, or there is no tool', async () => {
    const noSchema = file('no-schema.mjs', `export function f() {} f.description = 'x';`);
    await expect(loadToolModule(noSchema)).rejects.toThrow(
      `${noSchema}: tool "f" needs "parameters", a JSON schema object`,
    );
    const none = file('none.mjs', 'export const x = 1;');
    await expect(loadToolModule(none)).rejects.toThrow(`${none}: exports no tools`);
    await expect(loadToolModule(join(dir, 'gone.mjs'))).rejects.toThrow('tool module not found');
  });
});
