import type { ChatMessage } from '../nn/tokenizers/chatTemplate.js';

/**
 * A prompt as reward functions receive it: the text, or for conversational prompts the messages
 * as the prompt file holds them (TRL's convention); completions likewise, as text or as the
 * messages the policy added (`[{role: "assistant", content}]`, tool turns included).
 */
export type RewardInput = string | readonly ChatMessage[];

/** The fields of a prompt file's line (the `prompt` and every other column), one per sample. */
export type PromptRow = Readonly<Record<string, unknown>>;

/**
 * A reward function scores completions of prompts. `range` is the interval its scores can take;
 * GRPOVI needs it (the reward adjustment keeps rewards inside it). `rows[i]`, when the task has
 * them, is the prompt file's line of sample `i` (e.g. an `answer` column a verifier reads).
 */
export interface RewardFunction {
  name: string;
  range?: readonly [number, number];
  /**
   * Whether the function takes conversational prompts as messages (user modules, as TRL hands them):
   * then `prompts` and `completions` are `RewardInput`s, messages for conversational rows. Without it
   * the function always receives the rendered texts (learned reward models, built-in rules).
   */
  messages?: boolean;
  score(
    prompts: readonly string[],
    completions: readonly string[],
    rows?: readonly PromptRow[],
  ): readonly number[] | Promise<readonly number[]>;
  /**
   * For a learned reward `sigmoid(score - offset)`: the raw scores and the offset, so that the
   * reward can be compressed by a temperature (src/rewards/rewardTemperature.ts).
   */
  learnedScore?: {
    offset: number;
    scores(prompts: readonly string[], completions: readonly string[]): ArrayLike<number>;
  };
}

/** A reward function with its weight in the combined reward. */
export interface WeightedReward {
  fn: RewardFunction;
  weight: number;
}

/** A reward function failed or returned something unusable; names the function and the sample. */
export class RewardFunctionError extends Error {
  override readonly name = 'RewardFunctionError';
  readonly functionName: string;
  readonly sample?: number;

  constructor(functionName: string, problem: string, sample?: number) {
    super(`reward function "${functionName}" ${problem}`);
    this.functionName = functionName;
    this.sample = sample;
  }
}

export interface Scores {
  /** Weighted sum over functions, one per completion. */
  total: Float64Array;
  /** Each function's raw scores, by name. */
  byFunction: Map<string, Float64Array>;
}

function describeSample(prompts: readonly string[], completions: readonly string[], i: number): string {
  const clip = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 57)}...` : s);
  return `sample ${i} (prompt ${clip(prompts[i])}, completion ${clip(completions[i])})`;
}

/** A value a reward function returned, with its type: `a string ("0.5")`, `NaN`, `null`, `an object`. */
function describeScore(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') {
    const text = JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
    return `a string (${text})`;
  }
  if (typeof value === 'bigint') return `a bigint (${value}n)`;
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return `a ${typeof value}`;
}

/** The completions as messages: the conversation the policy added, or one assistant message. */
export function completionMessages(
  completions: readonly string[],
  conversations?: readonly (readonly ChatMessage[])[],
): (readonly ChatMessage[])[] {
  return completions.map((c, i) => conversations?.[i] ?? [{ role: 'assistant', content: c }]);
}

/**
 * What a function receives: the texts, or for functions that take messages and conversational rows,
 * the rows' messages and the completions as messages.
 */
function inputsFor(
  fn: RewardFunction,
  prompts: readonly string[],
  completions: readonly string[],
  rows: readonly PromptRow[] | undefined,
  conversations: readonly (readonly ChatMessage[])[] | undefined,
): { prompts: readonly RewardInput[]; completions: readonly RewardInput[] } {
  const conversational = rows !== undefined && rows.length > 0 && Array.isArray(rows[0].prompt);
  if (!fn.messages || !conversational) return { prompts, completions };
  return {
    prompts: rows.map((r) => r.prompt as readonly ChatMessage[]),
    completions: completionMessages(completions, conversations),
  };
}

/** Finds which sample makes a batch call throw by scoring samples one at a time. */
async function findFailingSample(
  fn: RewardFunction,
  prompts: readonly string[],
  completions: readonly string[],
  rows: readonly PromptRow[] | undefined,
): Promise<{ index: number; error: unknown } | undefined> {
  for (let i = 0; i < prompts.length; i++) {
    try {
      await fn.score([prompts[i]], [completions[i]], rows && [rows[i]]);
    } catch (error) {
      return { index: i, error };
    }
  }
  return undefined;
}

/**
 * Scores every completion with every function and combines them; any bad score stops with a
 * RewardFunctionError. `prompts` and `completions` are texts; with conversational rows, functions
 * that take messages get the rows' messages and the completions as messages (`conversations[i]`,
 * when the rollout called tools, else one assistant message).
 */
export async function scoreCompletions(
  rewards: readonly WeightedReward[],
  prompts: readonly string[],
  completions: readonly string[],
  rows?: readonly PromptRow[],
  conversations?: readonly (readonly ChatMessage[])[],
): Promise<Scores> {
  const n = completions.length;
  const total = new Float64Array(n);
  const byFunction = new Map<string, Float64Array>();
  for (const { fn, weight } of rewards) {
    let scores: readonly number[];
    const inputs = inputsFor(fn, prompts, completions, rows, conversations);
    // Only functions declaring `messages` receive messages (see RewardFunction.messages).
    const given = inputs as { prompts: readonly string[]; completions: readonly string[] };
    try {
      scores = await fn.score(given.prompts, given.completions, rows);
    } catch (error) {
      const failing = await findFailingSample(fn, given.prompts, given.completions, rows);
      const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));
      if (failing) {
        throw new RewardFunctionError(
          fn.name,
          `threw on ${describeSample(prompts, completions, failing.index)}: ${reason(failing.error)}`,
          failing.index,
        );
      }
      throw new RewardFunctionError(fn.name, `threw on a batch of ${n} samples: ${reason(error)}`);
    }
    if (!Array.isArray(scores) && !ArrayBuffer.isView(scores)) {
      throw new RewardFunctionError(
        fn.name,
        `must return an array of numbers (it returned ${describeScore(scores)})`,
      );
    }
    if (scores.length !== n) {
      throw new RewardFunctionError(fn.name, `returned ${scores.length} scores for ${n} completions`);
    }
    const own = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = scores[i];
      if (typeof s !== 'number' || !Number.isFinite(s)) {
        throw new RewardFunctionError(
          fn.name,
          `returned ${describeScore(s)} for ${describeSample(prompts, completions, i)}: scores must be finite numbers`,
          i,
        );
      }
      if (fn.range && (s < fn.range[0] || s > fn.range[1])) {
        throw new RewardFunctionError(
          fn.name,
          `returned ${s}, outside its declared range [${fn.range[0]}, ${fn.range[1]}], for ${describeSample(prompts, completions, i)}`,
          i,
        );
      }
      own[i] = s;
      total[i] += weight * s;
    }
    byFunction.set(fn.name, own);
  }
  return { total, byFunction };
}

/** The range of the weighted sum, when every function declares one; undefined otherwise. */
export function combinedRange(rewards: readonly WeightedReward[]): [number, number] | undefined {
  let min = 0;
  let max = 0;
  for (const { fn, weight } of rewards) {
    if (!fn.range) return undefined;
    const [lo, hi] = fn.range;
    min += weight >= 0 ? weight * lo : weight * hi;
    max += weight >= 0 ? weight * hi : weight * lo;
  }
  return [min, max];
}
