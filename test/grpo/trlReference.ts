/**
 * A plain-JS transcription of TRL's GRPO formulas (huggingface/trl, trl/trainer/grpo_trainer.py at
 * revision f2cd577, July 2026), written from the Python independently of src/, with the same
 * nested-array shapes as the PyTorch tensors ([B][T]) so that it reads like the original:
 * - `trlAdvantages`: `GRPOTrainer._generate_and_score_completions`, `sum_then_normalize` branch
 *   (group mean, `nanstd` with Bessel's correction, `std + 1e-4`, `is_std_zero = isclose(std, 0)`),
 *   and the logged `reward_std` (`nanstd(rewards)`) and `frac_reward_zero_std`;
 * - `trlMicrobatchLoss`: `GRPOTrainer._compute_loss` for loss types grpo, bnpo, dr_grpo, dapo, with
 *   `importance_sampling_level`, `delta`, the k3 KL, the gradient-accumulation normalizers and the
 *   clip metrics `clip_ratio/low_mean`, `high_mean`, `region_mean` (`global_masked_mean`, one process);
 * - `trlOptimizerStepLoss`: the loss one optimizer step minimizes, the sum over its accumulated
 *   micro-batches (`Trainer.training_step` adds the gradients of each `loss`).
 */

export type TrlLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

export interface TrlArgs {
  loss_type: TrlLossType;
  beta: number;
  epsilon: number;
  epsilon_high: number;
  delta?: number;
  importance_sampling_level: 'token' | 'sequence';
  max_completion_length: number;
}

/** `trl.trainer.utils.nanstd` without NaNs: the std with Bessel's correction (NaN for one value). */
function nanstd(values: readonly number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return Math.sqrt((variance * values.length) / (values.length - 1));
}

/** `torch.isclose(x, 0)` with its default atol 1e-8 and rtol 1e-5 (rtol times 0 is 0). */
function iscloseZero(x: number): boolean {
  return Math.abs(x) <= 1e-8;
}

export function trlAdvantages(
  rewards: readonly number[],
  numGenerations: number,
  scaleRewards: 'group' | 'batch' | 'none',
): { advantages: number[]; rewardStd: number; fracRewardZeroStd: number } {
  const groups: number[][] = [];
  for (let i = 0; i < rewards.length; i += numGenerations) groups.push(rewards.slice(i, i + numGenerations));
  const meanGrouped = groups.flatMap((g) => {
    const m = g.reduce((s, v) => s + v, 0) / g.length;
    return g.map(() => m);
  });
  const stdRewards =
    scaleRewards === 'batch'
      ? rewards.map(() => nanstd(rewards))
      : groups.flatMap((g) => {
          const s = nanstd(g);
          return g.map(() => s);
        });
  const advantages = rewards.map((r, i) => {
    const a = r - meanGrouped[i];
    return scaleRewards === 'none' ? a : a / (stdRewards[i] + 1e-4);
  });
  const isStdZero = stdRewards.map(iscloseZero);
  return {
    advantages,
    rewardStd: nanstd(rewards),
    fracRewardZeroStd: isStdZero.filter(Boolean).length / isStdZero.length,
  };
}

export interface TrlMicrobatch {
  perTokenLogps: number[][];
  oldPerTokenLogps: number[][];
  refPerTokenLogps?: number[][];
  advantages: number[];
  completionMask: number[][];
}

export interface TrlLossOutput {
  loss: number;
  kl?: number;
  clipLow: number;
  clipHigh: number;
  clipRegion: number;
}

const sum = (xs: readonly number[]) => xs.reduce((s, v) => s + v, 0);

export function trlMicrobatchLoss(
  inputs: TrlMicrobatch,
  args: TrlArgs,
  accumulation: { currentGradientAccumulationSteps: number; numItemsInBatch: number },
): TrlLossOutput {
  const mask = inputs.completionMask;
  const B = mask.length;
  const logRatio = inputs.perTokenLogps.map((row, b) =>
    row.map((lp, t) => lp - inputs.oldPerTokenLogps[b][t]),
  );
  // log_importance_weights: [B][T] for token level, [B][1] for sequence level.
  const logWeights =
    args.importance_sampling_level === 'token'
      ? logRatio
      : logRatio.map((row, b) => [sum(row.map((x, t) => x * mask[b][t])) / Math.max(sum(mask[b]), 1)]);
  let coef1 = logWeights.map((row) => row.map(Math.exp));
  const coef2 = coef1.map((row) =>
    row.map((c) => Math.min(Math.max(c, 1 - args.epsilon), 1 + args.epsilon_high)),
  );
  if (args.delta !== undefined) coef1 = coef1.map((row) => row.map((c) => Math.min(c, args.delta as number)));
  const T = mask[0].length;
  // per_token_loss broadcasts [B][1] against [B][T] when the KL is added or the mask applied.
  const at = (x: number[][], b: number, t: number) => (x[b].length === 1 ? x[b][0] : x[b][t]);
  const perTokenKl = inputs.refPerTokenLogps?.map((row, b) =>
    row.map((ref, t) => {
      const d = ref - inputs.perTokenLogps[b][t];
      return Math.exp(d) - d - 1;
    }),
  );
  const perTokenLoss: number[][] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    const A = inputs.advantages[b];
    for (let t = 0; t < T; t++) {
      let l = -Math.min(at(coef1, b, t) * A, at(coef2, b, t) * A);
      if (args.beta !== 0) l += args.beta * (perTokenKl as number[][])[b][t];
      row.push(l);
    }
    perTokenLoss.push(row);
  }
  const masked = perTokenLoss.map((row, b) => row.map((l, t) => l * mask[b][t]));
  const G = accumulation.currentGradientAccumulationSteps;
  let loss: number;
  if (args.loss_type === 'grpo') {
    loss = sum(masked.map((row, b) => sum(row) / Math.max(sum(mask[b]), 1))) / B / G;
  } else if (args.loss_type === 'bnpo') {
    loss = sum(masked.map(sum)) / Math.max(sum(mask.map(sum)), 1) / G;
  } else if (args.loss_type === 'dr_grpo') {
    loss = sum(masked.map(sum)) / (B * args.max_completion_length) / G;
  } else {
    loss = sum(masked.map(sum)) / Math.max(accumulation.numItemsInBatch, 1);
  }
  const globalMaskedMean = (x: number[][]) => {
    if (x[0].length === 1) return sum(x.map((row) => row[0])) / Math.max(B, 1);
    return sum(x.map((row, b) => sum(row.map((v, t) => v * mask[b][t])))) / Math.max(sum(mask.map(sum)), 1);
  };
  const low = coef1.map((row, b) =>
    row.map((c) => (c < 1 - args.epsilon && inputs.advantages[b] < 0 ? 1 : 0)),
  );
  const high = coef1.map((row, b) =>
    row.map((c) => (c > 1 + args.epsilon_high && inputs.advantages[b] > 0 ? 1 : 0)),
  );
  const region = low.map((row, b) => row.map((l, t) => (l || high[b][t] ? 1 : 0)));
  return {
    loss,
    kl: perTokenKl && args.beta !== 0 ? globalMaskedMean(perTokenKl) : undefined,
    clipLow: globalMaskedMean(low),
    clipHigh: globalMaskedMean(high),
    clipRegion: globalMaskedMean(region),
  };
}

/**
 * The loss of one optimizer step over `microbatches` (rows of the generation batch, already shuffled
 * and split): TRL sums each micro-batch's normalized loss, `num_items_in_batch` being the token count
 * of the whole generation batch.
 */
export function trlOptimizerStepLoss(
  microbatches: readonly TrlMicrobatch[],
  args: TrlArgs,
  numItemsInBatch: number,
): number {
  return sum(
    microbatches.map(
      (mb) =>
        trlMicrobatchLoss(mb, args, {
          currentGradientAccumulationSteps: microbatches.length,
          numItemsInBatch,
        }).loss,
    ),
  );
}
