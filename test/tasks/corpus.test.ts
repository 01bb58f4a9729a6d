import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALLOWED_CHARACTERS,
  loadCorpusDocuments,
  loadSentences,
  normalizeSentence,
  sentencesFromText,
  splitSentences,
  splitTrainHeldOut,
  stripGutenbergBoilerplate,
  wordTokens,
} from '../../src/tasks/corpus.js';

describe('splitSentences', () => {
  it('does not split after titles such as Mr., Mrs., Dr. and St.', () => {
    const text = 'Mr. Smith went to St. Louis with Dr. Jones. They arrived late. Mrs. Brown waited for them.';
    expect(splitSentences(text)).toEqual([
      'Mr. Smith went to St. Louis with Dr. Jones.',
      'They arrived late.',
      'Mrs. Brown waited for them.',
    ]);
  });

  it('keeps initials and initialisms inside the sentence, but "I." ends one', () => {
    const text =
      'Franklin D. Roosevelt spoke to the U.S. Congress. J. R. Tolkien wrote. "So be it," said I. Then we left.';
    expect(splitSentences(text)).toEqual([
      'Franklin D. Roosevelt spoke to the U.S. Congress.',
      'J. R. Tolkien wrote.',
      '"So be it," said I.',
      'Then we left.',
    ]);
  });

  it('treats "No." as an abbreviation only before a number', () => {
    expect(splitSentences('See No. 5 above. I said no. Then I left.')).toEqual([
      'See No. 5 above.',
      'I said no.',
      'Then I left.',
    ]);
  });

  it('keeps closing quotes with their sentence and does not split before a lower-case word', () => {
    const text = '"Where is he?" cried Ahab. "Gone!" said Starbuck. "Aye." He turned away! the sea was calm.';
    expect(splitSentences(text)).toEqual([
      '"Where is he?" cried Ahab.',
      '"Gone!" said Starbuck.',
      '"Aye."',
      'He turned away! the sea was calm.',
    ]);
  });

  it('handles typographic quotes and dashes', () => {
    const text = '“Stand by!” he cried. ‘Tis done—at last. The end.';
    expect(splitSentences(text)).toEqual(['“Stand by!” he cried.', '‘Tis done—at last.', 'The end.']);
  });

  it('drops chapter headings and all-capitals labels, joins wrapped lines, and never crosses a blank line', () => {
    const text = [
      'CHAPTER 1. Loomings.',
      '',
      'Call me Ishmael. Some years ago I',
      'went to sea',
      '',
      'CHAPTER 2. The Carpet-Bag.',
      '',
      'STUBB. Avast there! I stuffed a shirt into my bag.',
      '',
      'ETYMOLOGY.',
    ].join('\n');
    expect(splitSentences(text)).toEqual([
      'Call me Ishmael.',
      'Some years ago I went to sea',
      'Avast there!',
      'I stuffed a shirt into my bag.',
    ]);
  });

  it('skips Project Gutenberg licence text around the START and END markers', () => {
    const text = [
      'The Project Gutenberg EBook of Moby Dick. This eBook is for the use of anyone anywhere.',
      '*** START OF THIS PROJECT GUTENBERG EBOOK MOBY DICK ***',
      '',
      'Call me Ishmael. It is a way I have.',
      '',
      '*** END OF THIS PROJECT GUTENBERG EBOOK MOBY DICK ***',
      'Updated editions will replace the previous one. Please read this licence.',
    ].join('\r\n');
    expect(splitSentences(text)).toEqual(['Call me Ishmael.', 'It is a way I have.']);
    expect(stripGutenbergBoilerplate('No markers here. None at all.')).toBe('No markers here. None at all.');
  });
});

describe('normalizeSentence and wordTokens', () => {
  const examples: [string, string][] = [
    ['Call me Ishmael.', 'call me ishmael .'],
    ["Don't you see the sea-captain's boat?", "don't you see the sea-captain's boat ?"],
    ['Some years ago—never mind how long—I sailed.', 'some years ago - never mind how long - i sailed .'],
    ['Wait -- no, stay.', 'wait - no , stay .'],
    ['“Aye,” said he, ‘it’s time.’', "\" aye , \" said he , ' it's time . '"],
    ['Mr. Starbuck met Dr. Bunger at St. Paul.', 'mr. starbuck met dr. bunger at st. paul .'],
    ['The U.S. spent $1,000,000 (3.5% more) in 1990.', 'the u.s. spent $ 1,000,000 ( 3.5 % more ) in 1990 .'],
    ["'Tis our hearts' song...", "'tis our hearts ' song ..."],
    ['A naïve café and/or a [bar]', 'a naive cafe and or a ( bar )'],
    ['  Many    spaces\n\tand\ttabs  ', 'many spaces and tabs'],
    ['Franklin D. Roosevelt, No. 5 and no. More', 'franklin d. roosevelt , no. 5 and no . more'],
    ['Ahab* ~ #1 @ you', 'ahab 1 you'],
  ];
  it.each(examples)('normalizes %j', (input, expected) => {
    expect(normalizeSentence(input)).toBe(expected);
  });

  it('splits normalized text on single spaces', () => {
    expect(wordTokens('call me ishmael .')).toEqual(['call', 'me', 'ishmael', '.']);
    expect(wordTokens('')).toEqual([]);
  });

  it('is idempotent and yields allowed characters joined by single spaces', () => {
    const alphabet = fc.constantFrom(
      ...'aZ9 .,;:!?"\'()-$%&—–“”‘’…éŒ[]/_\n'.split(''),
      'Mr.',
      'u.s.',
      'no.',
      ' 5',
      "'tis",
      '--',
      '3.5',
      'x',
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), (parts) => {
        const normalized = normalizeSentence(parts.join(''));
        expect(normalizeSentence(normalized)).toBe(normalized);
        for (const ch of normalized) expect(ALLOWED_CHARACTERS).toContain(ch);
        expect(normalized).not.toMatch(/^ | $| {2}/);
        expect(wordTokens(normalized).join(' ')).toBe(normalized);
      }),
      { numRuns: 500 },
    );
  });
});

describe('sentencesFromText', () => {
  it('filters by token count and removes duplicates after normalization', () => {
    const text =
      'Call me Ishmael. The whale swam far away from us. THE whale swam far away from us! One two three four five six seven.';
    // 'call me ishmael .' has 4 tokens (too short); the two whale sentences differ in their final mark, so
    // both stay; the last one has 8 tokens.
    expect(sentencesFromText(text, { minWords: 5, maxWords: 8 })).toEqual([
      'the whale swam far away from us .',
      'the whale swam far away from us !',
      'one two three four five six seven .',
    ]);
    expect(sentencesFromText('The whale swam far away. The WHALE swam far away.', { minWords: 1 })).toEqual([
      'the whale swam far away .',
    ]);
    expect(sentencesFromText(text, { minWords: 3, maxWords: 4 })).toEqual(['call me ishmael .']);
  });

  it('rejects impossible length bounds', () => {
    expect(() => sentencesFromText('x', { minWords: 0 })).toThrow(/minWords/);
    expect(() => sentencesFromText('x', { minWords: 5, maxWords: 4 })).toThrow(/maxWords .* \(4\)/);
  });
});

describe('splitTrainHeldOut', () => {
  it('is deterministic, disjoint, covering, order-preserving and of the requested size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer(),
        (n, f, seed) => {
          const items = Array.from({ length: n }, (_, i) => `item${i}`);
          const split = splitTrainHeldOut(items, f, seed);
          expect(splitTrainHeldOut(items, f, seed)).toEqual(split);
          expect(split.heldOut.length).toBe(Math.round(f * n));
          expect([...split.train, ...split.heldOut].sort()).toEqual([...items].sort());
          expect(new Set([...split.train, ...split.heldOut]).size).toBe(n);
          const index = (s: string) => Number(s.slice(4));
          for (const part of [split.train, split.heldOut]) {
            for (let i = 1; i < part.length; i++) expect(index(part[i])).toBeGreaterThan(index(part[i - 1]));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('holds out different items for different seeds', () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const a = splitTrainHeldOut(items, 0.1, 1).heldOut;
    const b = splitTrainHeldOut(items, 0.1, 2).heldOut;
    expect(a).not.toEqual(b);
    // Independent 10% samples share about 10 of 100 items; far fewer than all of them.
    expect(a.filter((x) => b.includes(x)).length).toBeLessThan(40);
  });

  it('rejects a fraction outside [0, 1]', () => {
    expect(() => splitTrainHeldOut([1, 2], 1.5, 0)).toThrow('heldOutFraction must be in [0, 1] (1.5)');
    expect(() => splitTrainHeldOut([1, 2], Number.NaN, 0)).toThrow(/NaN/);
  });
});

describe('corpora from the npm packages', () => {
  it('loads Moby Dick without the table of contents or section headings', () => {
    const documents = loadCorpusDocuments('moby-dick');
    expect(documents.length).toBe(138); // Etymology, Extracts, 135 chapters, Epilogue
    expect(documents.some((d) => d.startsWith('CONTENTS'))).toBe(false);
    expect(documents[0].startsWith('The pale Usher')).toBe(true);
    expect(documents[2].startsWith('Call me Ishmael.')).toBe(true);
    expect(documents[documents.length - 1].startsWith("The drama's done.")).toBe(true);
  });

  it('yields thousands of distinct, length-filtered Moby Dick sentences', () => {
    const sentences = loadSentences('moby-dick');
    expect(sentences.length).toBeGreaterThan(5000);
    expect(new Set(sentences).size).toBe(sentences.length);
    for (const s of sentences) {
      const n = wordTokens(s).length;
      expect(n).toBeGreaterThanOrEqual(6);
      expect(n).toBeLessThanOrEqual(40);
    }
    expect(sentences).toContain('this is my substitute for pistol and ball .');
  });

  it('loads every State of the Union speech', () => {
    const documents = loadCorpusDocuments('sotu');
    expect(documents.length).toBe(233);
    expect(documents.every((d) => d.length > 1000)).toBe(true);
  });

  it('rejects an unknown corpus name', () => {
    expect(() => loadCorpusDocuments('bible' as never)).toThrow(
      'corpus must be one of moby-dick, sotu ("bible")',
    );
  });
});
