import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MODEL_JSON_FILE } from '../../nn/weights/modelDir.js';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import {
  type RewardModelConfig,
  trainRewardModel,
  trainRewardModelOnPreferences,
} from '../../train/rewardModelTraining.js';
import { UserFileError } from '../../util/userFileError.js';
import type { TrainRmFlags } from '../options/trainRm.js';
import { UserInputError } from '../errors.js';

/** What `grpovi train-rm` does; loaded only when it runs (it loads the corpora and TF.js). */
export async function executeTrainRm(flags: TrainRmFlags): Promise<void> {
  if (existsSync(join(flags.out, MODEL_JSON_FILE)) && !flags.force) {
    throw new UserInputError(`--out ${flags.out} already holds a model; pass --force to overwrite it`);
  }
  if (flags.preferences !== undefined) {
    let r;
    try {
      r = await trainRewardModelOnPreferences(
        {
          policy: flags.policy,
          preferences: resolve(flags.preferences),
          epochs: flags.epochs,
          batchSize: flags.batchSize,
          learningRate: flags.lr,
          seed: flags.seed,
          backend: flags.backend,
        },
        flags.out,
        (line) => process.stderr.write(`${line}\n`),
      );
    } catch (error) {
      if (error instanceof UserFileError || error instanceof CheckpointError)
        throw new UserInputError(error.message);
      throw error;
    }
    process.stdout.write(
      `held-out pairwise accuracy: ${(100 * r.heldOutAccuracy).toFixed(1)}% (${r.heldOutPairs} pairs; ` +
        `train ${(100 * r.trainAccuracy).toFixed(1)}% on ${r.trainPairs}); score offset ${r.scoreOffset.toFixed(3)}, ` +
        `score std ${r.scoreStd.toFixed(3)}; ${r.seconds.toFixed(0)} s\nmodel: ${flags.out}\n`,
    );
    return;
  }
  const config: RewardModelConfig = {
    policy: flags.policy,
    pairs: flags.pairs,
    heldOutPairs: flags.heldOutPairs,
    labelNoise: flags.labelNoise,
    epochs: flags.epochs,
    batchSize: flags.batchSize,
    learningRate: flags.lr,
    maxNewTokens: 16,
    seed: flags.seed,
    backend: flags.backend,
  };
  const r = await trainRewardModel(config, flags.out, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(
    `held-out pairwise accuracy against the gold preference: ${(100 * r.heldOutAccuracy).toFixed(1)}% ` +
      `(${r.heldOutPairs} pairs; train ${(100 * r.trainAccuracy).toFixed(1)}% on ${r.trainPairs}); ` +
      `score offset ${r.scoreOffset.toFixed(3)}, score std ${r.scoreStd.toFixed(3)}; ${r.seconds.toFixed(0)} s\nmodel: ${flags.out}\n`,
  );
}
