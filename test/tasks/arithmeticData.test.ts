import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arithmeticReward, parseArithmeticPrompt } from '../../src/rewards/arithmetic.js';
import {
  arithmeticLine,
  arithmeticProblem,
  arithmeticProblems,
  DEFAULT_HELD_OUT_FRACTION,
  isHeldOutProblem,
} from '../../src/tasks/arithmeticData.js';

describe('arithmeticProblems', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const options = { count: 200, maxOperand: 99, seed: 7 };
    expect(arithmeticProblems(options)).toEqual(arithmeticProblems(options));
    expect(arithmeticProblems({ ...options, seed: 8 })).not.toEqual(arithmeticProblems(options));
  });

  it('produces well-formed problems whose answers the verifier accepts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.nat(1000), fc.integer(), (count, maxOperand, seed) => {
        const problems = arithmeticProblems({ count, maxOperand, seed, split: 'all' });
        expect(problems.length).toBe(count);
        for (const p of problems) {
          const { a, b, op } = parseArithmeticPrompt(p.prompt);
          expect({ a, b, op }).toEqual({ a: p.a, b: p.b, op: p.op });
          expect(a).toBeLessThanOrEqual(maxOperand);
          expect(b).toBeLessThanOrEqual(maxOperand);
          expect(Number(p.answer)).toBe(op === '+' ? a + b : a - b);
          expect(Number(p.answer)).toBeGreaterThanOrEqual(0); // no negative answers by default
          expect(arithmeticReward(p.prompt, p.answer)).toBe(1);
          expect(arithmeticLine(p)).toBe(`${a}${op}${b}=${p.answer}`);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('keeps to the requested operations and can produce negative differences when asked', () => {
    const minus = arithmeticProblems({
      count: 300,
      maxOperand: 20,
      ops: ['-'],
      seed: 1,
      allowNegative: true,
      split: 'all',
    });
    expect(minus.every((p) => p.op === '-')).toBe(true);
    expect(minus.some((p) => p.answer.startsWith('-'))).toBe(true);
    const plus = arithmeticProblems({ count: 100, maxOperand: 20, ops: ['+'], seed: 1 });
    expect(plus.every((p) => p.op === '+')).toBe(true);
  });

  it('never gives a held-out problem for training or a training problem for evaluation', () => {
    const train = new Set<string>();
    const heldOut = new Set<string>();
    for (let seed = 0; seed < 5; seed++) {
      for (const p of arithmeticProblems({ count: 500, maxOperand: 30, seed })) train.add(p.prompt);
      for (const p of arithmeticProblems({ count: 100, maxOperand: 30, seed, split: 'heldOut' }))
        heldOut.add(p.prompt);
    }
    expect(heldOut.size).toBeGreaterThan(20);
    for (const prompt of heldOut) expect(train.has(prompt)).toBe(false);
    for (const prompt of train) {
      const { a, b, op } = parseArithmeticPrompt(prompt);
      expect(isHeldOutProblem(a, b, op)).toBe(false);
    }
  });

  it('draws distinct problems when unique is set, and says so when there are too few', () => {
    const problems = arithmeticProblems({ count: 60, maxOperand: 9, seed: 3, unique: true, split: 'all' });
    expect(new Set(problems.map((p) => p.prompt)).size).toBe(60);
    // Operands 0..1 with '+' only give four prompts: 0+0=, 0+1=, 1+0=, 1+1=.
    expect(() =>
      arithmeticProblems({ count: 5, maxOperand: 1, ops: ['+'], seed: 3, unique: true, split: 'all' }),
    ).toThrow(/could only draw 4 of count = 5 distinct all problems/);
  });

  it('rejects bad options, naming them', () => {
    expect(() => arithmeticProblems({ count: -1, maxOperand: 9, seed: 0 })).toThrow(
      'count must be a non-negative integer (-1)',
    );
    expect(() => arithmeticProblems({ count: 1, maxOperand: 2.5, seed: 0 })).toThrow(/maxOperand .*\(2\.5\)/);
    expect(() => arithmeticProblems({ count: 1, maxOperand: 9, seed: 0, ops: [] })).toThrow(/ops/);
    expect(() => arithmeticProblems({ count: 1, maxOperand: 9, seed: 0, heldOutFraction: 2 })).toThrow(
      /heldOutFraction/,
    );
  });
});

describe('isHeldOutProblem', () => {
  it('holds out about the requested share of all problems, independently of any seed', () => {
    let heldOut = 0;
    let total = 0;
    for (let a = 0; a < 100; a++) {
      for (let b = 0; b < 100; b++) {
        for (const op of ['+', '-'] as const) {
          total++;
          if (isHeldOutProblem(a, b, op)) heldOut++;
        }
      }
    }
    expect(DEFAULT_HELD_OUT_FRACTION).toBe(0.1);
    expect(heldOut / total).toBeGreaterThan(0.08);
    expect(heldOut / total).toBeLessThan(0.12);
  });

  it('puts a + b and b + a on the same side, and grows with the fraction', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), (a, b) => {
        expect(isHeldOutProblem(a, b, '+')).toBe(isHeldOutProblem(b, a, '+'));
        expect(isHeldOutProblem(a, b, '-', 0)).toBe(false);
        expect(isHeldOutProblem(a, b, '-', 1)).toBe(true);
        if (isHeldOutProblem(a, b, '-', 0.1)) expect(isHeldOutProblem(a, b, '-', 0.3)).toBe(true);
      }),
    );
  });

  it('builds single problems consistently', () => {
    expect(arithmeticProblem(12, 7, '+')).toEqual({ a: 12, b: 7, op: '+', prompt: '12+7=', answer: '19' });
    expect(arithmeticLine(arithmeticProblem(3, 7, '-'))).toBe('3-7=-4');
  });
});
