import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MODEL_JSON_FILE } from '../../nn/weights/modelDir.js';
import { watchBrokenPipe } from '../../train/interrupt.js';
import { type PretrainConfig, pretrain } from '../../train/pretrain.js';
import { UserFileError } from '../../util/userFileError.js';
import { UserInputError } from '../errors.js';
import { PRETRAIN_DEFAULTS, type PretrainFlags, TEXT_DEFAULTS } from '../options/pretrain.js';

/** What `grpovi pretrain` does; loaded only when it runs (it loads the corpora and TF.js). */
export async function executePretrain(flags: PretrainFlags): Promise<void> {
  if (existsSync(join(flags.out, MODEL_JSON_FILE)) && !flags.force) {
    throw new UserInputError(`--out ${flags.out} already holds a model; pass --force to overwrite it`);
  }
  if ((flags.corpus === undefined) === (flags.text === undefined)) {
    throw new UserInputError(
      flags.corpus === undefined
        ? 'give --corpus NAME (sotu, moby-dick, arithmetic) or --text FILE...'
        : `give --corpus or --text, not both (--corpus ${flags.corpus}, --text ${(flags.text ?? []).join(' ')})`,
    );
  }
  const base = flags.corpus !== undefined ? PRETRAIN_DEFAULTS[flags.corpus] : TEXT_DEFAULTS[flags.tokenizer];
  const config: PretrainConfig = {
    corpus: flags.corpus ?? 'text',
    ...(flags.text !== undefined
      ? { text: flags.text.map((p) => resolve(p)), tokenizer: flags.tokenizer }
      : {}),
    seed: flags.seed,
    backend: flags.backend,
    steps: flags.steps ?? base.steps,
    batchSize: flags.batchSize ?? base.batchSize,
    learningRate: flags.lr ?? base.learningRate,
    warmupSteps: flags.warmupSteps ?? base.warmupSteps,
    weightDecay: flags.weightDecay ?? base.weightDecay,
    width: flags.width ?? base.width,
    depth: flags.depth ?? base.depth,
    heads: flags.heads ?? base.heads,
    contextLength: flags.context ?? base.contextLength,
    vocabSize: flags.vocabSize ?? base.vocabSize,
    evalEvery: flags.evalEvery ?? base.evalEvery,
    evalTexts: base.evalTexts,
  };
  if (config.steps < 1) throw new UserInputError(`--steps must be at least 1 (${config.steps})`);
  if (config.width % config.heads !== 0) {
    throw new UserInputError(`--heads must divide --width ${config.width} (${config.heads})`);
  }
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(
      'grpovi: stopping after this step and saving the model (Ctrl-C again to quit without saving)\n',
    );
  };
  process.on('SIGINT', onSigint);
  // A closed stdout or stderr saves the model and stops too (exit 141, as for SIGPIPE).
  let pipeClosed = false;
  const unwatchPipes = watchBrokenPipe(() => {
    pipeClosed = true;
    stop = true;
  });
  try {
    let result;
    try {
      result = await pretrain(
        config,
        flags.out,
        (line) => process.stderr.write(`${line}\n`),
        () => stop,
      );
    } catch (error) {
      if (error instanceof UserFileError || error instanceof RangeError)
        throw new UserInputError(error.message);
      throw error;
    }
    const final = result.evals[result.evals.length - 1];
    process.stdout.write(
      `held-out loss ${final.heldOutLoss.toFixed(3)}, perplexity ${final.perplexity.toFixed(1)}` +
        `${final.accuracy === undefined ? '' : `, accuracy ${(100 * final.accuracy).toFixed(1)}%`}` +
        ` after ${final.step} steps, ${result.tokensSeen} tokens, ${result.seconds.toFixed(0)} s\nsamples:\n`,
    );
    for (const s of result.samples) process.stdout.write(`  ${s.prompt} | ${s.completion}\n`);
    process.stdout.write(`model: ${flags.out}\n`);
    if (stop) process.exitCode = pipeClosed ? 141 : 130;
  } finally {
    process.off('SIGINT', onSigint);
    unwatchPipes();
  }
}
