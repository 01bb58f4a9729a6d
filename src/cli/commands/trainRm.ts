import { type Command, Option } from 'commander';
import { ASSET } from '../../tasks/assets.js';
import { BACKENDS, type BackendName } from '../../nn/backends/backendNames.js';
import { integerArg, numberArg } from '../parsers.js';

/** The options commander hands to the action. */
export interface TrainRmFlags {
  policy: string;
  preferences?: string;
  out: string;
  pairs: number;
  heldOutPairs: number;
  labelNoise: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  backend: BackendName;
  force?: boolean;
}

export function registerTrainRm(program: Command): void {
  program
    .command('train-rm')
    .description("train a Bradley-Terry reward model on gold-labelled pairs of the base policy's completions")
    .usage('--out <dir> [options]')
    .addOption(
      new Option('--policy <dir>', 'base policy folder whose completions are compared').default(
        ASSET.sentimentPolicy,
        'assets/sentiment-policy in the grpovi package',
      ),
    )
    .requiredOption('--out <dir>', 'reward model folder to write')
    .option(
      '--preferences <file>',
      'train on your own pairs instead: JSONL {"prompt", "chosen", "rejected"} per line (TRL\'s preference format)',
    )
    .option('--pairs <n>', 'training pairs', integerArg(1), 12000)
    .option('--held-out-pairs <n>', 'pairs on held-out prompts for the accuracy figure', integerArg(1), 2000)
    .option(
      '--label-noise <p>',
      'fraction of training labels flipped at random',
      numberArg({ min: 0, below: 0.5 }),
      0,
    )
    .option('--epochs <n>', 'passes over the training pairs', integerArg(1), 2)
    .option('--batch-size <n>', 'pairs per step', integerArg(1), 64)
    .option('--lr <x>', 'peak learning rate', numberArg({ positive: true }), 5e-4)
    .option('--seed <n>', 'seed of sampling, label noise, head initialization and batches', integerArg(0), 0)
    .addOption(
      new Option(
        '--backend <name>',
        'TF.js backend (auto: webgpu on a real GPU adapter, else blas when a CBLAS library loads, else wasm)',
      )
        .choices(BACKENDS)
        .default('auto'),
    )
    .option('--force', 'overwrite an existing model folder')
    .addHelpText(
      'after',
      `
The gold preference is the AFINN-165 valence of a completion (see README). Pairs come from prompts of the
held-out sentences reserved for the reward model; accuracy is measured on pairs from other held-out prompts.
The reward used in RLHF is sigmoid(score - offset), in [0, 1], with the offset stored in model.json.

--preferences FILE trains on your own pairs instead (--pairs, --held-out-pairs and --label-noise do not
apply): texts are normalized as the policy's tokenizer expects, a fixed-seed 10% of the pairs (at least
one) is held out, and the held-out pairwise accuracy is printed. The body starts from --policy, so the
reward model shares its vocabulary and works as --reward-model with that policy.
With a Hugging Face causal LM as --policy (gpt2, llama, qwen2; --preferences is then required), the texts
are read by the folder's tokenizer as prompt + completion, and --out is written as a
*ForSequenceClassification folder (score head, num_labels 1, tokenizer files) that works as --reward-model.

Examples:
  grpovi train-rm --policy assets/sentiment-policy --out assets/sentiment-reward-model --pairs 12000
  grpovi train-rm --preferences examples/own-task/preferences.jsonl --policy runs/own/policy --out runs/own/rm`,
    )
    .action(async (flags: TrainRmFlags) => {
      const { executeTrainRm } = await import('../actions/trainRm.js');
      await executeTrainRm(flags);
    });
}
