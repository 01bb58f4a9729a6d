import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { MODEL_JSON_FILE } from '../../nn/modelDir.js';
import { ASSET } from '../../tasks/assets.js';
import { type RewardModelConfig, trainRewardModel } from '../../train/rewardModelTraining.js';
import { UserInputError } from '../errors.js';

function integer(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer >= ${min} (${JSON.stringify(value)})`);
    return n;
  };
}

function fraction(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n >= 0 && n < 0.5)) throw new InvalidArgumentError(`${flag} must be a number in [0, 0.5) (${JSON.stringify(value)})`);
    return n;
  };
}

interface TrainRmFlags {
  policy: string;
  out: string;
  pairs: number;
  heldOutPairs: number;
  labelNoise: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  backend: 'wasm' | 'cpu';
  force?: boolean;
}

export function registerTrainRm(program: Command): void {
  program
    .command('train-rm')
    .description('train a Bradley-Terry reward model on gold-labelled pairs of the base policy\'s completions')
    .option('--policy <dir>', 'base policy folder whose completions are compared', ASSET.sentimentPolicy)
    .requiredOption('--out <dir>', 'reward model folder to write')
    .option('--pairs <n>', 'training pairs', integer('--pairs', 1), 12000)
    .option('--held-out-pairs <n>', 'pairs on held-out prompts for the accuracy figure', integer('--held-out-pairs', 1), 2000)
    .option('--label-noise <p>', 'fraction of training labels flipped at random', fraction('--label-noise'), 0)
    .option('--epochs <n>', 'passes over the training pairs', integer('--epochs', 1), 2)
    .option('--batch-size <n>', 'pairs per step', integer('--batch-size', 1), 64)
    .option('--lr <x>', 'peak learning rate', Number, 5e-4)
    .option('--seed <n>', 'seed of sampling, label noise, head initialization and batches', integer('--seed', 0), 0)
    .addOption(new Option('--backend <name>', 'TF.js backend').choices(['wasm', 'cpu']).default('wasm'))
    .option('--force', 'overwrite an existing model folder')
    .addHelpText(
      'after',
      `
The gold preference is the AFINN-165 valence of a completion (see README). Pairs come from prompts of the
held-out sentences reserved for the reward model; accuracy is measured on pairs from other held-out prompts.
The reward used in RLHF is sigmoid(score - offset), in [0, 1], with the offset stored in model.json.

Example:
  grpovi train-rm --policy assets/sentiment-policy --out assets/sentiment-reward-model --pairs 12000`,
    )
    .action(async (flags: TrainRmFlags) => {
      if (existsSync(join(flags.out, MODEL_JSON_FILE)) && !flags.force) {
        throw new UserInputError(`--out ${flags.out} already holds a model; pass --force to overwrite it`);
      }
      if (!(flags.lr > 0)) throw new UserInputError(`--lr must be a positive number (${flags.lr})`);
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
    });
}
