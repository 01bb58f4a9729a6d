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

/** Scores every completion with every function and combines them; any bad score stops with a RewardFunctionError. */
export async function scoreCompletions(
  rewards: readonly WeightedReward[],
  prompts: readonly string[],
  completions: readonly string[],
  rows?: readonly PromptRow[],
): Promise<Scores> {
  const n = completions.length;
  const total = new Float64Array(n);
  const byFunction = new Map<string, Float64Array>();
  for (const { fn, weight } of rewards) {
    let scores: readonly number[];
    try {
      scores = await fn.score(prompts, completions, rows);
    } catch (error) {
      const failing = await findFailingSample(fn, prompts, completions, rows);
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
