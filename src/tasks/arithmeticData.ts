/**
 * Problems of the `arithmetic` task (`12+7=` -> `19`) and the fixed train / held-out division of all
 * problems, so that evaluation prompts are never seen in pretraining or RL.
 */
import {
  ARITHMETIC_OPS,
  type ArithmeticExpression,
  type ArithmeticOp,
  arithmeticAnswer,
  formatArithmeticPrompt,
} from '../rewards/arithmetic.js';
import { Rng } from '../util/rng.js';

export interface ArithmeticProblem extends ArithmeticExpression {
  /** `12+7=` */
  prompt: string;
  /** `19` */
  answer: string;
}

/** Which problems to draw from: the training side, the held-out side, or both. */
export type ArithmeticSplit = 'train' | 'heldOut' | 'all';

export interface ArithmeticProblemOptions {
  count: number;
  /** Operands are drawn uniformly from 0..maxOperand. */
  maxOperand: number;
  /** Operations, drawn uniformly; default both `+` and `-`. */
  ops?: readonly ArithmeticOp[];
  seed: number;
  /** Default `train`, so that nothing held out leaks into training by accident. */
  split?: ArithmeticSplit;
  /** Share of all problems that is held out; default `DEFAULT_HELD_OUT_FRACTION`. */
  heldOutFraction?: number;
  /** Allow `a - b` with `a < b` (negative answers); default false: the operands are swapped instead. */
  allowNegative?: boolean;
  /** Draw distinct problems; default false (draws with replacement). */
  unique?: boolean;
}

export const DEFAULT_HELD_OUT_FRACTION = 0.1;

/** FNV-1a followed by the murmur3 finalizer, so that nearby prompts get unrelated hashes. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

function checkFraction(heldOutFraction: number): void {
  if (!Number.isFinite(heldOutFraction) || heldOutFraction < 0 || heldOutFraction > 1) {
    throw new RangeError(`heldOutFraction must be in [0, 1] (${heldOutFraction})`);
  }
}

/**
 * Whether a problem belongs to the held-out side: a fixed hash of the problem, independent of any seed,
 * puts about `heldOutFraction` of all problems there. Sums are hashed with their operands sorted, so
 * `12+7` and `7+12` are on the same side and a held-out sum is not learned through its mirror image.
 */
export function isHeldOutProblem(
  a: number,
  b: number,
  op: ArithmeticOp,
  heldOutFraction: number = DEFAULT_HELD_OUT_FRACTION,
): boolean {
  checkFraction(heldOutFraction);
  const key = op === '+' ? `${Math.min(a, b)}+${Math.max(a, b)}` : `${a}-${b}`;
  return hash32(key) / 2 ** 32 < heldOutFraction;
}

/** A pretraining line: prompt then answer, e.g. `12+7=19`. */
export function arithmeticLine(problem: Pick<ArithmeticProblem, 'prompt' | 'answer'>): string {
  return `${problem.prompt}${problem.answer}`;
}

/** The problem for given operands, with its prompt and canonical answer. */
export function arithmeticProblem(a: number, b: number, op: ArithmeticOp): ArithmeticProblem {
  const expression = { a, b, op };
  return { ...expression, prompt: formatArithmeticPrompt(expression), answer: arithmeticAnswer(expression) };
}

/**
 * `count` problems with operands uniform in 0..maxOperand, drawn with a generator seeded by `seed`
 * (same options, same problems), restricted to one side of the train / held-out division.
 */
export function arithmeticProblems(options: ArithmeticProblemOptions): ArithmeticProblem[] {
  const { count, maxOperand, seed } = options;
  const ops = options.ops ?? ARITHMETIC_OPS;
  const split = options.split ?? 'train';
  const heldOutFraction = options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION;
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be a non-negative integer (${count})`);
  if (!Number.isSafeInteger(maxOperand) || maxOperand < 0) {
    throw new RangeError(`maxOperand must be a non-negative integer (${maxOperand})`);
  }
  if (ops.length === 0 || ops.some((op) => !ARITHMETIC_OPS.includes(op))) {
    throw new RangeError(
      `ops must be a non-empty list of ${ARITHMETIC_OPS.join(' and ')} (${JSON.stringify(ops)})`,
    );
  }
  if (!['train', 'heldOut', 'all'].includes(split)) {
    throw new RangeError(`split must be train, heldOut or all (${JSON.stringify(split)})`);
  }
  checkFraction(heldOutFraction);

  const rng = Rng.derive(seed, 'arithmetic-problems');
  const problems: ArithmeticProblem[] = [];
  const seen = new Set<string>();
  const maxAttempts = 100 * count + 10_000;
  for (let attempt = 0; problems.length < count; attempt++) {
    if (attempt >= maxAttempts) {
      throw new RangeError(
        `could only draw ${problems.length} of count = ${count} ${options.unique ? 'distinct ' : ''}${split} problems ` +
          `with maxOperand = ${maxOperand} and heldOutFraction = ${heldOutFraction} (${maxAttempts} attempts)`,
      );
    }
    let a = rng.int(maxOperand + 1);
    let b = rng.int(maxOperand + 1);
    const op = ops[rng.int(ops.length)];
    if (op === '-' && a < b && !options.allowNegative) [a, b] = [b, a];
    if (split !== 'all' && isHeldOutProblem(a, b, op, heldOutFraction) !== (split === 'heldOut')) continue;
    const problem = arithmeticProblem(a, b, op);
    if (options.unique) {
      if (seen.has(problem.prompt)) continue;
      seen.add(problem.prompt);
    }
    problems.push(problem);
  }
  return problems;
}
