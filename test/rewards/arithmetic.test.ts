import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CharTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import {
  arithmeticAnswer,
  arithmeticReward,
  arithmeticRewardFunction,
  formatArithmeticPrompt,
  parseArithmeticPrompt,
} from '../../src/rewards/arithmetic.js';

describe('parseArithmeticPrompt', () => {
  it('parses sums and differences', () => {
    expect(parseArithmeticPrompt('12+7=')).toEqual({ a: 12, b: 7, op: '+' });
    expect(parseArithmeticPrompt('0-45=')).toEqual({ a: 0, b: 45, op: '-' });
  });

  it.each(['12*7=', '12+7', '12+7=19', ' 12+7=', '012+7=', '-3+4=', '1.5+2=', '', '+=', '12++7='])(
    'rejects %j with an error naming the prompt',
    (prompt) => {
      expect(() => parseArithmeticPrompt(prompt)).toThrow(`prompt is not an arithmetic prompt`);
      expect(() => parseArithmeticPrompt(prompt)).toThrow(`(${JSON.stringify(prompt)})`);
    },
  );

  it('round-trips with formatArithmeticPrompt', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.constantFrom('+' as const, '-' as const), (a, b, op) => {
        expect(parseArithmeticPrompt(formatArithmeticPrompt({ a, b, op }))).toEqual({ a, b, op });
      }),
    );
  });
});

describe('arithmeticReward', () => {
  it.each([
    ['19', 1],
    ['19 ', 1],
    ['  19\n', 1],
    ['019', 0],
    ['+19', 0],
    ['1 9', 0],
    ['', 0],
    ['   ', 0],
    ['19x', 0],
    ['19.0', 0],
    ['18', 0],
    ['20', 0],
  ] as const)('scores %j for 12+7= as %d', (completion, expected) => {
    expect(arithmeticReward('12+7=', completion)).toBe(expected);
  });

  it.each(['19+1', '1919', '19=', '19-', '19\n12+7=19', '1\u200b9'])(
    'scores 0 for %j, a completion that runs on past the answer of 12+7= or splits it',
    (completion) => {
      expect(arithmeticReward('12+7=', completion)).toBe(0);
    },
  );

  it('scores 0 for malformed minus signs on a negative answer', () => {
    for (const completion of ['--4', '- 4', '\u22124', '4-', '(-4)', '-+4']) {
      expect(arithmeticReward('3-7=', completion), completion).toBe(0);
    }
  });

  it('scores what the character tokenizer decodes: EOS adds no text, an unknown token spoils the answer', () => {
    const tokenizer = CharTokenizer.fit(['0123456789+-=']);
    const answer = tokenizer.encode('19');
    expect(arithmeticReward('12+7=', tokenizer.decode([...answer, tokenizer.eosId, tokenizer.padId]))).toBe(
      1,
    );
    expect(arithmeticReward('12+7=', tokenizer.decode([answer[0], tokenizer.unkId, answer[1]]))).toBe(0);
    expect(arithmeticReward('12+7=', tokenizer.decode([tokenizer.eosId]))).toBe(0);
  });

  it('accepts negative differences written with a minus sign, and zero only as 0', () => {
    expect(arithmeticReward('3-7=', '-4')).toBe(1);
    expect(arithmeticReward('3-7=', '4')).toBe(0);
    expect(arithmeticReward('7-7=', '0')).toBe(1);
    expect(arithmeticReward('7-7=', '-0')).toBe(0);
    expect(arithmeticReward('7-7=', '00')).toBe(0);
  });

  it('scores exactly the true answer 1 for random problems', () => {
    fc.assert(
      fc.property(
        fc.nat(10_000),
        fc.nat(10_000),
        fc.boolean(),
        fc.integer({ min: -3, max: 3 }),
        (a, b, plus, offset) => {
          const prompt = `${a}${plus ? '+' : '-'}${b}=`;
          const truth = plus ? a + b : a - b;
          expect(arithmeticReward(prompt, `${truth + offset}`)).toBe(offset === 0 ? 1 : 0);
        },
      ),
    );
  });

  it('stays exact for operands near the largest safe integer', () => {
    const a = Number.MAX_SAFE_INTEGER;
    expect(arithmeticAnswer({ a, b: a, op: '+' })).toBe('18014398509481982');
  });

  it('raises an error for a malformed prompt instead of scoring 0', () => {
    expect(() => arithmeticReward('12x7=', '84')).toThrow(/prompt/);
  });

  it('is available as a reward function over prompt and completion pairs', async () => {
    expect(await arithmeticRewardFunction.score(['1+1=', '5-9='], ['2', '4'])).toEqual([1, 0]);
    expect(arithmeticRewardFunction.range).toEqual([0, 1]);
  });
});
