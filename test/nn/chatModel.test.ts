import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { loadPolicyFolder, type PolicySource } from '../../src/nn/weights/policyFolder.js';
import type { HfTokenizer } from '../../src/nn/tokenizers/hfTokenizer.js';
import { chatTemplateFor, promptEncoder } from '../../src/tasks/sources/chatPrompts.js';
import { Rng } from '../../src/util/rng.js';
import { makeFixtures, PYTHON, SKIP_REASON } from './hfFixtures.js';

const require = createRequire(import.meta.url);
/** GPT-2's BPE, independent of @huggingface/tokenizers: the reference for the text between special tokens. */
const gpt3Encoder = require('gpt-3-encoder') as { encode(text: string): number[] };

/** The chat fixture adds ChatML's two tokens after GPT-2's 50257 (scripts/hf-fixtures/make_fixtures.py). */
const ENDOFTEXT = 50256;
const IM_START = 50257;
const IM_END = 50258;

/** Reference ids of a ChatML text: GPT-2 BPE of each run of plain text, the special tokens' own ids between. */
function referenceIds(text: string): number[] {
  const special: Record<string, number> = { '<|im_start|>': IM_START, '<|im_end|>': IM_END };
  return text
    .split(/(<\|im_start\|>|<\|im_end\|>)/)
    .filter((part) => part !== '')
    .flatMap((part) => (part in special ? [special[part]] : gpt3Encoder.encode(part)));
}

describe.skipIf(PYTHON === undefined)(`a chat model folder (${SKIP_REASON})`, () => {
  let root = '';
  let cleanup = () => {};
  let source: PolicySource;
  beforeAll(async () => {
    await selectBackend('wasm');
    ({ root, cleanup } = makeFixtures(['qwen2-chat']));
    source = loadPolicyFolder(join(root, 'qwen2-chat'));
  });
  afterAll(() => cleanup());

  it('reads the chat template and the end-of-turn ids of generation_config.json', () => {
    const tokenizer = source.tokenizer as HfTokenizer;
    expect([...tokenizer.chatTemplates.keys()]).toEqual(['default']);
    expect(tokenizer.eosId).toBe(ENDOFTEXT);
    expect([...(tokenizer.stopIds ?? [])].sort()).toEqual([ENDOFTEXT, IM_END]);
    // The end of a turn carries no text, as EOS does not.
    expect(tokenizer.decode([...gpt3Encoder.encode('Hello there'), IM_END])).toBe('Hello there');
  });

  it('the ids of a rendered conversation are the BPE of its text with the special tokens as single ids', () => {
    const template = chatTemplateFor(source.tokenizer, root, undefined);
    const conversations = [
      [{ role: 'user', content: 'What is 2 + 3?' }],
      [
        { role: 'system', content: 'Answer with a number, café.' },
        { role: 'user', content: '  spaces\nand lines  ' },
        { role: 'assistant', content: '7' },
        { role: 'user', content: 'Again: 9 * 9?' },
      ],
    ];
    const encode = promptEncoder(source.tokenizer, true);
    for (const messages of conversations) {
      const text = template.render(messages);
      expect(text.endsWith('<|im_start|>assistant\n')).toBe(true);
      const ids = encode(text);
      expect(ids).toEqual(referenceIds(text));
      expect(ids.filter((id) => id === IM_START)).toHaveLength(
        messages.length + (messages[0].role === 'system' ? 1 : 2),
      );
    }
  });

  it('generation stops at an end-of-turn id as it stops at EOS', () => {
    const model = source.create({ trainable: false });
    try {
      const prompt = [gpt3Encoder.encode('The meaning of life is')];
      const options = { maxNewTokens: 8, eosId: ENDOFTEXT, padId: ENDOFTEXT, topK: 1 };
      const free = generate(model, prompt, { ...options, rng: new Rng(1) });
      expect(free.lengths[0]).toBe(8);
      // Make the third greedy token a stop id: the same greedy path ends there, marked finished.
      const third = free.tokens[2];
      const stopped = generate(model, prompt, { ...options, stopIds: [third], rng: new Rng(1) });
      expect(stopped.lengths[0]).toBe(3);
      expect(stopped.finished[0]).toBe(1);
      expect(Array.from(stopped.tokens.subarray(0, 3))).toEqual(Array.from(free.tokens.subarray(0, 3)));
    } finally {
      model.dispose();
    }
  });
});
