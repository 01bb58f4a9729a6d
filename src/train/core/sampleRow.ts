/** Held-out prompts per evaluation whose completions are kept in `samples.jsonl`. */
export const SAMPLES_PER_EVAL = 8;

/** One line of `samples.jsonl`. */
export interface SampleRow {
  step: number;
  prompt: string;
  completion: string;
  /** The weighted sum the trainer optimizes. */
  reward: number;
  /** Each reward function's raw score, by name. */
  rewards: Record<string, number>;
  /** The task's gold reward, when it has one. */
  gold?: number;
}
