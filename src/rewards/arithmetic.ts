/**
 * The rule-based verifier of the `arithmetic` task. Prompts are `<a><op><b>=` with non-negative decimal
 * operands without leading zeros (`12+7=`, `30-45=`); the completion is what the model wrote after `=`.
 */
import { RewardInputError } from '../adjust/errors.js';
import type { RewardFunction } from './rewardFunction.js';

export type ArithmeticOp = '+' | '-';
export const ARITHMETIC_OPS: readonly ArithmeticOp[] = ['+', '-'];

export interface ArithmeticExpression {
  a: number;
  b: number;
  op: ArithmeticOp;
}

const PROMPT = /^(0|[1-9]\d*)([+-])(0|[1-9]\d*)=$/;

/** Parses `12+7=` into `{ a: 12, b: 7, op: '+' }`; anything else raises an error naming the prompt. */
export function parseArithmeticPrompt(prompt: string): ArithmeticExpression {
  const match = typeof prompt === 'string' ? PROMPT.exec(prompt) : null;
  if (!match) {
    throw new RewardInputError(
      'prompt',
      'is not an arithmetic prompt of the form "<a>+<b>=" or "<a>-<b>=" (non-negative integers without leading zeros)',
      prompt,
    );
  }
  const a = Number(match[1]);
  const b = Number(match[3]);
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) {
    throw new RewardInputError('prompt', `has an operand above ${Number.MAX_SAFE_INTEGER}`, prompt);
  }
  return { a, b, op: match[2] as ArithmeticOp };
}

/** The prompt for an expression: `12+7=`. */
export function formatArithmeticPrompt({ a, b, op }: ArithmeticExpression): string {
  return `${a}${op}${b}=`;
}

/**
 * The canonical answer: plain decimal digits, with a leading `-` for a negative difference (`3-7=` ->
 * `-4`); never a `+`, never leading zeros, zero is `0`.
 */
export function arithmeticAnswer({ a, b, op }: ArithmeticExpression): string {
  // BigInt so that sums of large operands stay exact.
  return String(op === '+' ? BigInt(a) + BigInt(b) : BigInt(a) - BigInt(b));
}

/**
 * 1 when the completion, with surrounding white space trimmed, is exactly the canonical answer, else 0:
 * for `12+7=`, `19` and `19 \n` score 1; `019`, `+19`, `1 9`, `19x` and the empty string score 0.
 * A malformed prompt raises an error (a bug in the task, not a wrong answer).
 */
export function arithmeticReward(prompt: string, completion: string): 0 | 1 {
  const answer = arithmeticAnswer(parseArithmeticPrompt(prompt));
  return completion.trim() === answer ? 1 : 0;
}

/** The verifier as a reward function over (prompt, completion) pairs, range [0, 1]. */
export const arithmeticRewardFunction: RewardFunction = {
  name: 'arithmetic',
  range: [0, 1],
  score: (prompts, completions) =>
    completions.map((completion, i) => arithmeticReward(prompts[i], completion)),
};
