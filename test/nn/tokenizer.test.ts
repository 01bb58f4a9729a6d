import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import {
  CharTokenizer,
  EOS_ID,
  PAD_ID,
  type Tokenizer,
  tokenizerFromJson,
  UNK_ID,
  WordTokenizer,
} from '../../src/nn/tokenizers/tokenizer.js';
import { Rng } from '../../src/util/rng.js';

const SOURCE = 'run/tokenizer.json';

function expectCheckpointError(run: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  const error = caught as CheckpointError;
  expect(error.file).toBe(SOURCE);
  expect(error.message.startsWith(`${SOURCE}: `)).toBe(true);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
}

const CORPUS = [
  'the movie was good',
  'the plot was bad but the acting was good',
  'a good film',
  'bad bad bad',
  'the end',
];

/** Word counts computed the obvious way, as an independent reference. */
function countWords(texts: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) for (const w of text.split(' ')) if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

function vocabOf(tokenizer: Tokenizer): string[] {
  return tokenizer.toJSON().vocab;
}

describe('special tokens', () => {
  it('sit at fixed ids in both kinds of tokenizer', () => {
    for (const tokenizer of [CharTokenizer.fit(CORPUS), WordTokenizer.fit(CORPUS, { maxVocab: 10 })]) {
      expect([tokenizer.padId, tokenizer.eosId, tokenizer.unkId]).toEqual([0, 1, 2]);
      expect([0, 1, 2].map((id) => tokenizer.tokenToString(id))).toEqual(['<pad>', '<eos>', '<unk>']);
      expect(tokenizer.tokenToId('<eos>')).toBe(EOS_ID);
    }
  });
});

describe('CharTokenizer', () => {
  it('has one entry per distinct character, sorted by code point, after the specials', () => {
    const tokenizer = CharTokenizer.fit(['banana', 'cab'], { extraChars: 'z!' });
    expect(tokenizer.kind).toBe('char');
    expect(vocabOf(tokenizer)).toEqual(['<pad>', '<eos>', '<unk>', '!', 'a', 'b', 'c', 'n', 'z']);
    expect(tokenizer.vocabSize).toBe(9);
  });

  it('round-trips any text made of its characters (including astral code points)', () => {
    const alphabet = ['a', 'b', ' ', '.', 'é', '😀', '<', '>'];
    const tokenizer = CharTokenizer.fit([alphabet.join('')]);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
        const text = chars.join('');
        const ids = tokenizer.encode(text);
        expect(ids.length).toBe(chars.length);
        expect(tokenizer.decode(ids)).toBe(text);
        expect(tokenizer.decode(Int32Array.from(ids))).toBe(text);
      }),
    );
  });

  it('maps unknown characters to unk and spelled-out specials to their characters', () => {
    const tokenizer = CharTokenizer.fit(['ab<eos>']);
    const ids = tokenizer.encode('axb');
    expect(ids).toEqual([tokenizer.tokenToId('a'), UNK_ID, tokenizer.tokenToId('b')]);
    expect(tokenizer.decode(ids)).toBe('a<unk>b');
    expect(tokenizer.encode('<eos>')).toHaveLength(5);
    expect(tokenizer.encode('<eos>')).not.toContain(EOS_ID);
  });

  it('decodes by skipping pad and eos', () => {
    const tokenizer = CharTokenizer.fit(['hi']);
    const ids = [...tokenizer.encode('hi'), EOS_ID, PAD_ID, PAD_ID];
    expect(tokenizer.decode([PAD_ID, ...ids])).toBe('hi');
  });

  it('rejects ids outside the vocabulary', () => {
    const tokenizer = CharTokenizer.fit(['ab']);
    expect(() => tokenizer.decode([3, 5])).toThrow(/ids\[1\] is not an id of this 5-token vocabulary \(5\)/);
    expect(() => tokenizer.decode([1.5])).toThrow(RangeError);
    expect(() => tokenizer.tokenToString(-1)).toThrow(/\(-1\)/);
  });

  it('fits the same vocabulary whatever the order of the texts', () => {
    const texts = ['zebra', 'apple', 'mango', 'kiwi'];
    const reference = vocabOf(CharTokenizer.fit(texts));
    const rng = new Rng(1);
    for (let i = 0; i < 5; i++)
      expect(vocabOf(CharTokenizer.fit(rng.shuffle([...texts])))).toEqual(reference);
  });
});

describe('WordTokenizer', () => {
  it('round-trips normalized in-vocabulary text and joins with single spaces', () => {
    const tokenizer = WordTokenizer.fit(CORPUS, { maxVocab: 100 });
    expect(tokenizer.kind).toBe('word');
    for (const text of CORPUS) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.encode(' the  end ')).toEqual(tokenizer.encode('the end'));
    expect(tokenizer.decode(tokenizer.encode(' the  end '))).toBe('the end');
    expect(tokenizer.decode([PAD_ID, ...tokenizer.encode('the end'), EOS_ID, PAD_ID])).toBe('the end');
  });

  it('maps unknown words (and spelled-out specials) to unk', () => {
    const tokenizer = WordTokenizer.fit(['a b <eos> <pad>'], { maxVocab: 100 });
    expect(vocabOf(tokenizer)).toEqual(['<pad>', '<eos>', '<unk>', 'a', 'b']);
    expect(tokenizer.encode('a zzz b <eos>')).toEqual([3, UNK_ID, 4, UNK_ID]);
    expect(tokenizer.decode(tokenizer.encode('a zzz'))).toBe('a <unk>');
  });

  it('keeps the most frequent words, ties alphabetical, within maxVocab', () => {
    const counts = countWords(CORPUS);
    for (let maxVocab = 3; maxVocab <= 16; maxVocab++) {
      const tokenizer = WordTokenizer.fit(CORPUS, { maxVocab });
      const words = vocabOf(tokenizer).slice(3);
      expect(tokenizer.vocabSize).toBe(Math.min(maxVocab, 3 + counts.size));
      // Every word in the vocabulary beats every word left out: higher count, or equal count and earlier.
      const left = [...counts.keys()].filter((w) => !words.includes(w));
      for (const w of words) {
        for (const o of left) {
          const [cw, co] = [counts.get(w)!, counts.get(o)!];
          expect(cw > co || (cw === co && w < o)).toBe(true);
        }
      }
    }
    // By hand: bad 4, the 4, good 3, was 3, then a, acting, but, end, film, movie, plot (1 each).
    expect(vocabOf(WordTokenizer.fit(CORPUS, { maxVocab: 9 })).slice(3)).toEqual([
      'bad',
      'the',
      'good',
      'was',
      'a',
      'acting',
    ]);
  });

  it('applies minCount', () => {
    const words = vocabOf(WordTokenizer.fit(CORPUS, { maxVocab: 100, minCount: 3 })).slice(3);
    expect(words).toEqual(['bad', 'the', 'good', 'was']);
  });

  it('fits the same vocabulary whatever the order of texts with equal counts', () => {
    const texts = ['delta alpha', 'charlie bravo', 'echo alpha', 'bravo foxtrot'];
    const rng = new Rng(2);
    const reference = vocabOf(WordTokenizer.fit(texts, { maxVocab: 6 }));
    expect(reference.slice(3)).toEqual(['alpha', 'bravo', 'charlie']);
    for (let i = 0; i < 8; i++) {
      const shuffled = rng.shuffle(texts.map((t) => rng.shuffle(t.split(' ')).join(' ')));
      expect(vocabOf(WordTokenizer.fit(shuffled, { maxVocab: 6 }))).toEqual(reference);
    }
  });

  it('retains keep words that occur often enough, evicting the least frequent others', () => {
    // Without keep, maxVocab 7 holds bad, the, good, was.
    const tokenizer = WordTokenizer.fit(CORPUS, {
      maxVocab: 7,
      keep: ['plot', 'film', 'missing', 'two words'],
    });
    expect(vocabOf(tokenizer).slice(3)).toEqual(['bad', 'the', 'film', 'plot']);
    expect(tokenizer.decode(tokenizer.encode('the plot was bad'))).toBe('the plot <unk> bad');

    const strict = WordTokenizer.fit(CORPUS, { maxVocab: 7, minCount: 2, keep: ['plot', 'good'] });
    expect(vocabOf(strict).slice(3)).toEqual(['bad', 'the', 'good', 'was']);

    const crowded = WordTokenizer.fit(CORPUS, { maxVocab: 5, keep: ['plot', 'film', 'bad'] });
    expect(vocabOf(crowded).slice(3)).toEqual(['bad', 'film']);
  });

  it('rejects bad fit options', () => {
    expect(() => WordTokenizer.fit(CORPUS, { maxVocab: 2 })).toThrow(/maxVocab .* \(2\)/);
    expect(() => WordTokenizer.fit(CORPUS, { maxVocab: 10, minCount: 0 })).toThrow(/minCount .* \(0\)/);
  });
});

describe('tokenizer JSON', () => {
  it('round-trips through JSON text to identical encodings and decodings', () => {
    const texts = [...CORPUS, 'unseen words here', 'é😀 mixed'];
    const tokenizers: Tokenizer[] = [
      CharTokenizer.fit(CORPUS, { extraChars: '😀' }),
      WordTokenizer.fit(CORPUS, { maxVocab: 8, keep: ['plot'] }),
    ];
    for (const tokenizer of tokenizers) {
      const restored = tokenizerFromJson(JSON.parse(JSON.stringify(tokenizer)), SOURCE);
      expect(restored.kind).toBe(tokenizer.kind);
      expect(restored.vocabSize).toBe(tokenizer.vocabSize);
      expect(restored.toJSON()).toEqual(tokenizer.toJSON());
      for (const text of texts) {
        expect(restored.encode(text)).toEqual(tokenizer.encode(text));
        expect(restored.decode(tokenizer.encode(text))).toBe(tokenizer.decode(tokenizer.encode(text)));
      }
    }
  });

  it('does not let callers mutate the tokenizer through toJSON', () => {
    const tokenizer = WordTokenizer.fit(CORPUS, { maxVocab: 8 });
    const json = tokenizer.toJSON();
    json.vocab[3] = 'changed';
    expect(tokenizer.tokenToString(3)).toBe('bad');
  });

  const specials = ['<pad>', '<eos>', '<unk>'];

  it('rejects a value that is not an object, or a wrong kind', () => {
    expectCheckpointError(() => tokenizerFromJson(null, SOURCE), 'must be a JSON object', 'null');
    expectCheckpointError(() => tokenizerFromJson([], SOURCE), 'must be a JSON object');
    expectCheckpointError(() => tokenizerFromJson({ kind: 'bpe', vocab: specials }, SOURCE), 'kind', '"bpe"');
    expectCheckpointError(() => tokenizerFromJson({ vocab: specials }, SOURCE), 'kind', 'undefined');
  });

  it('rejects a missing or malformed vocab', () => {
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word' }, SOURCE),
      'vocab must be an array',
      'undefined',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'char', vocab: 'abc' }, SOURCE),
      'vocab must be',
      '"abc"',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: [...specials, 'a', 7] }, SOURCE),
      'vocab[4] must be a string',
      '7',
    );
  });

  it('rejects specials that are missing or not at their ids', () => {
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: ['<pad>'] }, SOURCE),
      'special tokens',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: ['<pad>', '<unk>', '<eos>', 'a'] }, SOURCE),
      'vocab[1] must be the special token "<eos>"',
      '"<unk>"',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'char', vocab: ['a', '<pad>', '<eos>', '<unk>'] }, SOURCE),
      'vocab[0]',
      '"<pad>"',
    );
  });

  it('rejects duplicate tokens, naming both positions', () => {
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: [...specials, 'a', 'b', 'a'] }, SOURCE),
      'vocab[5] duplicates vocab[3]',
      '"a"',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: [...specials, 'x', '<eos>'] }, SOURCE),
      'vocab[4] duplicates vocab[1]',
    );
  });

  it('rejects tokens that the kind could never produce', () => {
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'char', vocab: [...specials, 'a', 'ab'] }, SOURCE),
      'vocab[4] must be a single character',
      '"ab"',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: [...specials, 'a b'] }, SOURCE),
      'vocab[3] must be a non-empty word without spaces',
      '"a b"',
    );
    expectCheckpointError(
      () => tokenizerFromJson({ kind: 'word', vocab: [...specials, ''] }, SOURCE),
      'vocab[3]',
    );
  });
});
