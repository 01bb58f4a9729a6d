import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSentences, normalizeSentence } from '../../src/tasks/corpus.js';
import {
  describeTextSplit,
  documentSentences,
  isOneSentencePerLine,
  textPretrainTexts,
} from '../../src/tasks/sources/textFile.js';
import { tempDir } from '../train/helpers.js';

const { dir, cleanup } = tempDir('text-files');
afterAll(cleanup);

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// 216 sentences of the State of the Union corpus as grpovi's normalizer writes them, one a line:
// the form `grpovi pretrain --text` used to read as one sentence (no capital starts a new one).
const NORMALIZED = loadSentences('sotu').slice(0, 216);

describe('pretrain --text: one sentence per line or running text', () => {
  it('reads a file of normalized sentences one sentence per line', () => {
    expect(new Set(NORMALIZED).size).toBe(216);
    const path = file('normalized.txt', `${NORMALIZED.join('\n')}\n`);
    const { train, heldOut, splits } = textPretrainTexts([path], 'word');
    // Every line comes back as it was written, each exactly once, 10% of them held out.
    expect([...train, ...heldOut].sort()).toEqual([...NORMALIZED].sort());
    expect(heldOut).toHaveLength(Math.round(0.1 * 216));
    expect(splits).toEqual([{ path, texts: 216, lines: 216, rule: 'lines' }]);
    expect(describeTextSplit(splits[0])).toBe(
      `${path}: 216 sentences from 216 lines (one sentence per line: the lines are already normalized words)`,
    );
  });

  it('the running-text rule alone would have read that file as a single sentence', () => {
    const joined = NORMALIZED.join('\n');
    const { sentences, rule } = documentSentences(`${joined}\nThe People want peace.`);
    // One line that is not in normalized words (capitals) sends the whole file to the running-text
    // rule, which joins the 216 lines into one sentence: only the capital starts a second one.
    expect(rule).toBe('running');
    expect(sentences).toEqual([normalizeSentence(NORMALIZED.join(' ')), 'the people want peace .']);
  });

  it('splits ordinary prose at sentence ends, across and within lines', () => {
    const prose =
      'The sun rose over the hills. Birds sang loudly!\nThe day\nwent on, slowly.\n\nA new day began.\n';
    const path = file('prose.txt', prose);
    expect(isOneSentencePerLine(prose)).toBe(false);
    const { train, heldOut, splits } = textPretrainTexts([path], 'word');
    expect([...train, ...heldOut].sort()).toEqual([
      'a new day began .',
      'birds sang loudly !',
      'the day went on , slowly .',
      'the sun rose over the hills .',
    ]);
    expect(splits).toEqual([{ path, texts: 4, lines: 4, rule: 'running' }]);
    expect(describeTextSplit(splits[0])).toBe(
      `${path}: 4 sentences from 4 lines (split at sentence ends as running text)`,
    );
  });

  it('a normalized line is one sentence even when it holds two sentence ends; blank lines are skipped', () => {
    const text = 'the people wants peace .\n\n  we need   bread ! and work .\n';
    expect(isOneSentencePerLine(text)).toBe(true);
    expect(documentSentences(text)).toEqual({
      sentences: ['the people wants peace .', 'we need bread ! and work .'],
      rule: 'lines',
    });
  });

  it('JSONL: each record by its own rule, counted as records', () => {
    const path = file(
      'mixed.jsonl',
      [
        JSON.stringify({ text: 'the people wants peace .\nwe need bread .' }),
        JSON.stringify({ text: 'The sun rose. Birds sang.' }),
      ].join('\n'),
    );
    const { splits } = textPretrainTexts([path], 'word');
    expect(splits).toEqual([{ path, texts: 4, lines: 2, rule: 'mixed' }]);
    expect(describeTextSplit(splits[0])).toMatch(/: 4 sentences from 2 text records \(/);
  });

  it('too little text names how each file was split', () => {
    const path = file('one.txt', 'The people want peace\nand bread\n');
    expect(() => textPretrainTexts([path], 'word')).toThrow(
      `hold 1 sentence (${path}: 1 sentence from 2 lines (split at sentence ends as running text)); a held-out split needs at least 2`,
    );
  });
});
