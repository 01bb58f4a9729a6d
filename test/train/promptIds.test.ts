import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import type { Task } from '../../src/tasks/task.js';
import { promptIdsOf, truncatedPromptCount } from '../../src/train/promptIds.js';

const tokenizer = CharTokenizer.fit(['abcdefghij']);

function task(trainPrompts: string[], evalPrompts: string[] = []): Task {
  return { tokenizer, trainPrompts, evalPrompts } as unknown as Task;
}

describe('max_prompt_length', () => {
  it('keeps the last N tokens (left truncation, as TRL), and whole prompts when absent or short', () => {
    const t = task(['abcdefghij', 'abc']);
    const ids = (s: string) => tokenizer.encode(s);
    expect(promptIdsOf(t, 4)('abcdefghij')).toEqual(ids('ghij'));
    expect(promptIdsOf(t, 4)('abc')).toEqual(ids('abc'));
    expect(promptIdsOf(t)('abcdefghij')).toEqual(ids('abcdefghij'));
  });

  it("uses the task's own encoding (conversations: no added special tokens)", () => {
    const t = { ...task(['xyz']), encodePrompt: (text: string) => [text.length, 7, 8, 9] } as Task;
    expect(promptIdsOf(t, 2)('xyz')).toEqual([8, 9]);
  });

  it('counts the training and evaluation prompts it cuts', () => {
    expect(truncatedPromptCount(task(['abcdef', 'ab'], ['abcde']), 4)).toEqual({ truncated: 2, total: 3 });
  });
});
