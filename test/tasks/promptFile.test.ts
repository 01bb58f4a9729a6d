import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CharTokenizer, WordTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import { normalizeSentence } from '../../src/tasks/corpus.js';
import { HELD_OUT_SHARE, holdOutPrompts } from '../../src/tasks/sources/fileTask.js';
import { readPreferenceFile } from '../../src/tasks/sources/preferenceFile.js';
import { readPromptFile } from '../../src/tasks/sources/promptFileReader.js';
import {
  normalizePrompt,
  unknownTokenShare,
  unknownTokenWarning,
} from '../../src/tasks/sources/promptText.js';
import { textPretrainTexts } from '../../src/tasks/sources/textFile.js';
import { UserFileError } from '../../src/util/userFileError.js';
import { tempDir } from '../train/helpers.js';

const { dir, cleanup } = tempDir('prompt-files');
afterAll(cleanup);

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The error a call throws (fails the test when it throws none). */
function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('readPromptFile', () => {
  it('reads JSONL prompts with every other field as a column, skipping blank lines', () => {
    const path = file(
      'p.jsonl',
      '{"prompt": "two plus two", "answer": "4", "tags": ["a"]}\n\n{"prompt": "x", "answer": 7}\n',
    );
    expect(readPromptFile(path)).toEqual([
      { prompt: 'two plus two', row: { prompt: 'two plus two', answer: '4', tags: ['a'] } },
      { prompt: 'x', row: { prompt: 'x', answer: 7 } },
    ]);
  });

  it('reads a text file as one prompt per line (CRLF too)', () => {
    expect(readPromptFile(file('p.txt', 'first one\r\n\r\nsecond\n'))).toEqual([
      { prompt: 'first one', row: { prompt: 'first one' } },
      { prompt: 'second', row: { prompt: 'second' } },
    ]);
  });

  it('names the file and the line of a line that is not JSON', () => {
    const path = file('bad.jsonl', '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": nope}\n');
    const error = errorOf(() => readPromptFile(path));
    expect(error).toBeInstanceOf(UserFileError);
    expect(error.message).toMatch(new RegExp(`^${path} line 3: is not valid JSON \\(`));
    expect((error as UserFileError).line).toBe(3);
    const duplicate = file('dup.jsonl', '{"prompt": "a", "prompt": "b"}\n');
    expect(errorOf(() => readPromptFile(duplicate)).message).toMatch(
      new RegExp(`^${duplicate} line 1: is not valid JSON \\(duplicate key "prompt"`),
    );
  });

  it('names the line and the type of a missing or non-string prompt', () => {
    const missing = file('missing.jsonl', '{"prompt": "a"}\n{"text": "b"}\n');
    expect(errorOf(() => readPromptFile(missing)).message).toBe(
      `${missing} line 2: needs a "prompt" string or a list of {"role", "content"} messages (missing)`,
    );
    const number = file('number.jsonl', '{"prompt": 12}\n');
    expect(errorOf(() => readPromptFile(number)).message).toBe(
      `${number} line 1: needs a "prompt" string or a list of {"role", "content"} messages (number 12)`,
    );
    const chat = file('chat.jsonl', '{"prompt": [{"role": "user", "content": "a"}, {"role": "user"}]}\n');
    expect(errorOf(() => readPromptFile(chat)).message).toBe(
      `${chat} line 1: "prompt"[1] has no "content" string (missing): messages are {"role", "content"} objects`,
    );
    const array = file('array.jsonl', '[1, 2]\n');
    expect(errorOf(() => readPromptFile(array)).message).toBe(
      `${array} line 1: must be a JSON object ([1,2])`,
    );
  });

  it('reads conversations (TRL conversational prompts) with their columns, and refuses a mix', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2 + 2?' },
    ];
    const path = file('chat-ok.jsonl', `${JSON.stringify({ prompt: messages, answer: '4' })}\n`);
    expect(readPromptFile(path)).toEqual([{ prompt: messages, row: { prompt: messages, answer: '4' } }]);
    const mixed = file('mixed.jsonl', `{"prompt": "text"}\n${JSON.stringify({ prompt: messages })}\n`);
    expect(errorOf(() => readPromptFile(mixed)).message).toBe(
      `${mixed} line 2: "prompt" is a conversation where line 1 has a string: a file holds plain prompts or conversations, not both`,
    );
    const emptyList = file('empty-list.jsonl', '{"prompt": []}\n');
    expect(errorOf(() => readPromptFile(emptyList)).message).toBe(
      `${emptyList} line 1: has an empty "prompt" list ([]): a conversation needs a message`,
    );
  });

  it('refuses an empty file and a missing one', () => {
    const empty = file('empty.jsonl', '\n  \n');
    expect(errorOf(() => readPromptFile(empty)).message).toBe(
      `${empty}: holds no prompts (the file is empty)`,
    );
    const gone = join(dir, 'gone.txt');
    expect(errorOf(() => readPromptFile(gone)).message).toBe(
      `${gone}: prompt file cannot be read: no such file`,
    );
  });
});

describe('holdOutPrompts', () => {
  it('holds out about 10% (at least one), disjoint from training, the same every time', () => {
    for (const n of [2, 3, 9, 10, 30, 101]) {
      const items = Array.from({ length: n }, (_, i) => i);
      const { train, heldOut } = holdOutPrompts(items);
      expect(heldOut.length).toBe(Math.max(1, Math.round(HELD_OUT_SHARE * n)));
      expect([...train, ...heldOut].sort((a, b) => a - b)).toEqual(items);
      expect(holdOutPrompts(items)).toEqual({ train, heldOut });
    }
  });
});

describe('prompt normalization and unknown words', () => {
  const tokenizer = WordTokenizer.fit(['the cat sat on the mat .'], { maxVocab: 100 });

  it('normalizes word-level prompts as the corpora are and leaves char-level ones as written', () => {
    expect(normalizePrompt(tokenizer, 'The Cat, sat.')).toBe(normalizeSentence('The Cat, sat.'));
    expect(normalizePrompt(tokenizer, 'The Cat, sat.')).toBe('the cat , sat .');
    const chars = CharTokenizer.fit(['abc']);
    expect(normalizePrompt(chars, 'A b')).toBe('A b');
  });

  it('counts unknown words like a word-by-word lookup and names the most frequent one', () => {
    const prompts = ['the dog sat', 'the dog ran on the mat', 'a cat'];
    const words = prompts.flatMap((p) => p.split(' '));
    const vocab = new Set(tokenizer.toJSON().vocab);
    const unknown = words.filter((w) => !vocab.has(w));
    const result = unknownTokenShare(tokenizer, prompts);
    expect(result.share).toBeCloseTo(unknown.length / words.length, 12);
    expect(result.example).toBe('dog');
  });

  it('warns above 5% unknown words, naming the share and an example, and not at or below it', () => {
    const known = Array.from({ length: 19 }, () => 'the cat sat on the mat');
    expect(
      unknownTokenWarning(tokenizer, [...known, 'the cat sat on the zebra'], 'the prompts'),
    ).toBeUndefined();
    const warning = unknownTokenWarning(tokenizer, ['the zebra sat', 'the zebra'], 'the prompts');
    expect(warning).toBe(
      `warning: 40.0% of the words of the prompts are unknown to the policy's ${tokenizer.vocabSize}-token vocabulary and read as <unk> (e.g. "zebra")`,
    );
  });
});

describe('preference and text files', () => {
  it('reads TRL preference pairs and names a broken line and a missing field', () => {
    const good = file('prefs.jsonl', '{"prompt": "p", "chosen": "yes", "rejected": "no"}\n');
    expect(readPreferenceFile(good)).toEqual([{ line: 1, prompt: 'p', chosen: 'yes', rejected: 'no' }]);
    const broken = file(
      'broken.jsonl',
      '{"prompt": "p", "chosen": "yes", "rejected": "no"}\n{"prompt": "p", "chosen"\n',
    );
    expect(errorOf(() => readPreferenceFile(broken)).message).toMatch(
      new RegExp(`^${broken} line 2: is not valid JSON`),
    );
    const noRejected = file('norej.jsonl', '{"prompt": "p", "chosen": "yes"}\n');
    expect(errorOf(() => readPreferenceFile(noRejected)).message).toBe(
      `${noRejected} line 1: needs a "rejected" string (missing)`,
    );
  });

  it('splits plain text into normalized sentences and JSONL into its text fields, holding some out', () => {
    const plain = file('t.txt', 'The sun rose. Birds sang loudly! The sun rose.\n\nA new day began.');
    const { train, heldOut } = textPretrainTexts([plain], 'word');
    expect([...train, ...heldOut].sort()).toEqual([
      'a new day began .',
      'birds sang loudly !',
      'the sun rose .',
    ]);
    expect(heldOut.length).toBe(1);
    const jsonl = file('t.jsonl', '{"text": "line one"}\n{"text": "line two"}\n');
    const chars = textPretrainTexts([jsonl], 'char');
    expect([...chars.train, ...chars.heldOut].sort()).toEqual(['line one', 'line two']);
    const bad = file('bad-text.jsonl', '{"text": 3}\n');
    expect(errorOf(() => textPretrainTexts([bad], 'word')).message).toBe(
      `${bad} line 1: needs a "text" string (number 3)`,
    );
  });
});
