import { cpSync, existsSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { type GptConfig, gptParamSpecs } from '../../src/nn/models/gptConfig.js';
import {
  loadModelDir,
  MODEL_JSON_FILE,
  type ModelKind,
  saveModelDir,
  WEIGHTS_FILE,
} from '../../src/nn/weights/modelDir.js';
import type { NamedTensor } from '../../src/nn/weights/safetensors.js';
import { CharTokenizer, type Tokenizer, WordTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import { createArithmeticTask } from '../../src/tasks/arithmetic.js';
import { ASSET } from '../../src/tasks/assets.js';
import { createSentimentTask } from '../../src/tasks/sentiment.js';
import { Rng } from '../../src/util/rng.js';
import { CLI_BIN, type ProcessRun as Run, runCli } from '../cli/cliBin.js';
import { tempDir } from '../train/helpers.js';

// The CLI half runs the built program (`npm test` builds dist first; run `npm run build` before running
// this file alone). GRPOVI_CLI_BIN points it at another build, e.g. one made with `tsc --outDir`.

/** A tiny character-level policy that fits the arithmetic task's prompts. */
const ARITHMETIC_TOKENIZER = CharTokenizer.fit(['0123456789+-=']);
const TINY: GptConfig = {
  vocabSize: ARITHMETIC_TOKENIZER.vocabSize,
  contextLength: 16,
  width: 8,
  depth: 1,
  heads: 2,
};

/** Weights for a config, made without TF.js; `reshape` changes one tensor's shape (to break it). */
function tensorsFor(
  config: GptConfig,
  seed: number,
  reshape: Record<string, number[]> = {},
): Record<string, NamedTensor> {
  const rng = Rng.derive(seed, 'model-dir-test');
  const tensors: Record<string, NamedTensor> = {};
  for (const spec of gptParamSpecs(config)) {
    const shape = reshape[spec.name] ?? spec.shape;
    const count = shape.reduce((p, n) => p * n, 1);
    tensors[spec.name] = {
      dtype: 'F32',
      shape,
      data: Float32Array.from({ length: count }, () => rng.normal() * 0.02),
    };
  }
  return tensors;
}

function writeModel(
  dir: string,
  options: {
    kind?: ModelKind;
    config?: GptConfig;
    tokenizer?: Tokenizer;
    tensors?: Record<string, NamedTensor>;
  } = {},
): string {
  const config = options.config ?? TINY;
  saveModelDir(dir, {
    kind: options.kind ?? 'policy',
    config,
    tokenizer: options.tokenizer ?? ARITHMETIC_TOKENIZER,
    tensors: options.tensors ?? tensorsFor(config, 0),
    info: { made_by: 'modelDir.test' },
  });
  return dir;
}

/** The error `fn` throws (or undefined). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Expects a CheckpointError about `file` whose message also says what is wrong. */
function checkCheckpointError(error: unknown, file: string, problem: RegExp): void {
  expect(error).toBeInstanceOf(CheckpointError);
  const checkpointError = error as CheckpointError;
  expect(checkpointError.file).toBe(file);
  expect(checkpointError.message.startsWith(`${file}: `)).toBe(true);
  expect(checkpointError.problem).toMatch(problem);
}

function expectCheckpointError(fn: () => unknown, file: string, problem: RegExp): void {
  checkCheckpointError(thrownBy(fn), file, problem);
}

let root: ReturnType<typeof tempDir>;
/** A valid policy folder; each test copies it before breaking the copy. */
let good = '';
let copies = 0;
function copyOfGood(): string {
  const dir = join(root.dir, `copy-${copies++}`);
  cpSync(good, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('model-dir');
  good = writeModel(join(root.dir, 'good'));
});
afterAll(() => root?.cleanup());

describe('loadModelDir on a good folder', () => {
  it('gives back the kind, config, tokenizer and tensors that were saved, and they build a model', () => {
    const saved = tensorsFor(TINY, 0);
    const files = loadModelDir(good, 'policy');
    expect(files.kind).toBe('policy');
    expect(files.config).toEqual(TINY);
    expect(files.tokenizer.toJSON()).toEqual(ARITHMETIC_TOKENIZER.toJSON());
    expect(Object.keys(files.tensors).sort()).toEqual(Object.keys(saved).sort());
    for (const [name, tensor] of Object.entries(saved)) {
      expect(files.tensors[name].shape).toEqual(tensor.shape);
      expect(Array.from(files.tensors[name].data)).toEqual(Array.from(tensor.data));
    }
    const model = Gpt.fromTensors(files.config, files.tensors, { trainable: false, source: good });
    model.dispose();
  });
});

describe('loadModelDir on bad input names the file and the problem', () => {
  it('a missing model folder', () => {
    const missing = join(root.dir, 'no-such-model');
    expectCheckpointError(() => loadModelDir(missing), missing, /model folder not found/);
  });

  it('a file given where the folder should be', () => {
    const file = join(good, WEIGHTS_FILE);
    expectCheckpointError(() => loadModelDir(file), file, /model folder not found/);
  });

  it('a missing model.json', () => {
    const dir = copyOfGood();
    unlinkSync(join(dir, MODEL_JSON_FILE));
    expectCheckpointError(() => loadModelDir(dir), join(dir, MODEL_JSON_FILE), /file not found/);
  });

  it('a missing model.safetensors', () => {
    const dir = copyOfGood();
    unlinkSync(join(dir, WEIGHTS_FILE));
    expectCheckpointError(() => loadModelDir(dir), join(dir, WEIGHTS_FILE), /file not found/);
  });

  it('a model.safetensors cut off in its data section', () => {
    const dir = copyOfGood();
    const path = join(dir, WEIGHTS_FILE);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    expectCheckpointError(() => loadModelDir(dir), path, /truncated/);
  });

  it('a model.safetensors cut off in its header', () => {
    const dir = copyOfGood();
    const path = join(dir, WEIGHTS_FILE);
    truncateSync(path, 40);
    expectCheckpointError(() => loadModelDir(dir), path, /header length \d+ is larger than the 32 bytes/);
    truncateSync(path, 5);
    expectCheckpointError(
      () => loadModelDir(dir),
      path,
      /5 bytes long, shorter than the 8-byte header length prefix/,
    );
  });

  it('invalid JSON in model.json', () => {
    const dir = copyOfGood();
    const path = join(dir, MODEL_JSON_FILE);
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 50));
    expectCheckpointError(() => loadModelDir(dir), path, /is not valid JSON/);
    writeFileSync(path, '[1, 2]\n');
    expectCheckpointError(() => loadModelDir(dir), path, /"format" must be "grpovi-model" \(undefined\)/);
    writeFileSync(path, 'null\n');
    expectCheckpointError(() => loadModelDir(dir), path, /must hold a JSON object \(null\)/);
  });

  it('a policy where a reward model is needed, and the other way round', () => {
    expectCheckpointError(
      () => loadModelDir(good, 'reward-model'),
      join(good, MODEL_JSON_FILE),
      /holds a policy, but a reward-model is needed here/,
    );
    const rm = writeModel(join(root.dir, 'reward-model'), { kind: 'reward-model' });
    expectCheckpointError(
      () => loadModelDir(rm, 'policy'),
      join(rm, MODEL_JSON_FILE),
      /holds a reward-model, but a policy is needed here/,
    );
  });

  it('an unknown kind', () => {
    const dir = copyOfGood();
    const path = join(dir, MODEL_JSON_FILE);
    const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...json, kind: 'critic' }));
    expectCheckpointError(
      () => loadModelDir(dir),
      path,
      /"kind" must be "policy" or "reward-model" \("critic"\)/,
    );
  });

  it('a config whose vocabulary size disagrees with the tokenizer', () => {
    const dir = copyOfGood();
    const path = join(dir, MODEL_JSON_FILE);
    const json = JSON.parse(readFileSync(path, 'utf8')) as { config: GptConfig };
    writeFileSync(path, JSON.stringify({ ...json, config: { ...json.config, vocabSize: 17 } }));
    expectCheckpointError(
      () => loadModelDir(dir),
      path,
      /the tokenizer has 16 tokens but config.vocabSize is 17/,
    );
  });

  it('a tensor with the wrong shape, when the task builds the policy', () => {
    const dir = writeModel(join(root.dir, 'bad-shape'), { tensors: tensorsFor(TINY, 0, { wpe: [15, 8] }) });
    // The folder itself is well formed; the shape is checked against the config when the model is built.
    expect(loadModelDir(dir, 'policy').tensors.wpe.shape).toEqual([15, 8]);
    const task = createArithmeticTask({ seed: 0, policy: dir });
    expectCheckpointError(
      () => task.createPolicy(0, { policy: dir }),
      join(dir, WEIGHTS_FILE),
      /tensor "wpe" has shape \[15, 8\] but the config needs \[16, 8\]/,
    );
  });

  it('a reward model without its scoring head, when the sentiment task first scores', async () => {
    // A word-level model is needed for the sentiment task; its words need not make sense here.
    const tokenizer = WordTokenizer.fit(['the sea was calm and the ship was good'], { maxVocab: 64 });
    const config: GptConfig = {
      vocabSize: tokenizer.vocabSize,
      contextLength: 32,
      width: 8,
      depth: 1,
      heads: 2,
    };
    const policy = writeModel(join(root.dir, 'word-policy'), { tokenizer, config });
    const headless = writeModel(join(root.dir, 'headless-rm'), { tokenizer, config, kind: 'reward-model' });
    const task = createSentimentTask({ seed: 0, policy, rewardModel: headless });
    try {
      const error = await (async () => task.rewards[0].fn.score(['the sea'], ['was calm']))().then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      checkCheckpointError(error, join(headless, WEIGHTS_FILE), /tensor "score.weight" is missing/);
    } finally {
      task.dispose?.();
    }
  });
});

const run = (args: string[]) => runCli(args, { cwd: root.dir });

/** A user error: exit status 2, one `grpovi: ` line naming the problem, no stack trace. */
function expectUserError(result: Run, ...mentions: string[]): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).not.toContain('internal error');
  expect(result.stderr).not.toMatch(/\n\s+at /);
  for (const text of mentions) expect(result.stderr).toContain(text);
}

function snapshot(dir: string): Record<string, { bytes: Buffer; mtimeMs: number }> {
  return Object.fromEntries(
    [MODEL_JSON_FILE, WEIGHTS_FILE].map((name) => {
      const path = join(dir, name);
      return [name, { bytes: readFileSync(path), mtimeMs: statSync(path).mtimeMs }];
    }),
  );
}

describe('the CLI on bad model folders and bad flags', () => {
  const out = (name: string) => join(root.dir, 'cli-out', name);
  let runs: Record<string, Run>;
  let truncated = '';
  let badShape = '';
  let existing = '';
  let existingBefore: ReturnType<typeof snapshot>;

  beforeAll(async () => {
    if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
    truncated = copyOfGood();
    truncateSync(join(truncated, WEIGHTS_FILE), Math.floor(statSync(join(truncated, WEIGHTS_FILE)).size / 2));
    badShape = writeModel(join(root.dir, 'cli-bad-shape'), {
      tensors: tensorsFor(TINY, 1, { 'h.0.ln_1.weight': [9] }),
    });
    existing = copyOfGood();
    existingBefore = snapshot(existing);
    // Independent processes, started together: they are mostly start-up time.
    const plan: Record<string, string[]> = {
      missingPolicy: [
        'train',
        '--task',
        'sentiment',
        '--policy',
        '/nonexistent/policy',
        '--out',
        out('missing-policy'),
      ],
      truncatedPolicy: [
        'train',
        '--task',
        'arithmetic',
        '--policy',
        truncated,
        '--out',
        out('truncated-policy'),
      ],
      badShapePolicy: [
        'train',
        '--task',
        'arithmetic',
        '--policy',
        badShape,
        '--steps',
        '1',
        '--out',
        out('bad-shape'),
      ],
      policyAsRewardModel: [
        'train',
        '--task',
        'sentiment',
        '--reward-model',
        ASSET.sentimentPolicy,
        '--out',
        out('wrong-kind'),
      ],
      trainRmMissing: ['train-rm', '--policy', '/nonexistent/policy', '--out', out('rm')],
      trainRmExisting: ['train-rm', '--policy', good, '--out', existing],
      pretrainBadValue: ['pretrain', '--corpus', 'arithmetic', '--steps', 'many', '--out', out('bad-value')],
      pretrainBadCorpus: ['pretrain', '--corpus', 'shakespeare', '--out', out('bad-corpus')],
      pretrainExisting: ['pretrain', '--corpus', 'arithmetic', '--steps', '1', '--out', existing],
    };
    const results = await Promise.all(Object.values(plan).map((args) => run(args)));
    runs = Object.fromEntries(Object.keys(plan).map((name, i) => [name, results[i]]));
  });

  it('train with a policy folder that does not exist exits 2 naming it, and writes no run folder', () => {
    expectUserError(runs.missingPolicy, '/nonexistent/policy', 'model folder not found');
    expect(existsSync(out('missing-policy'))).toBe(false);
  });

  it('train with a truncated policy names model.safetensors', () => {
    expectUserError(runs.truncatedPolicy, `${join(truncated, WEIGHTS_FILE)}: `, 'truncated');
    expect(existsSync(out('truncated-policy'))).toBe(false);
  });

  it('train with a policy whose tensor has the wrong shape names the file and the tensor', () => {
    expectUserError(
      runs.badShapePolicy,
      `${join(badShape, WEIGHTS_FILE)}: `,
      'tensor "h.0.ln_1.weight" has shape [9]',
    );
    expect(existsSync(out('bad-shape'))).toBe(false);
  });

  it('train with a policy given as the reward model names its model.json and both kinds', () => {
    expectUserError(
      runs.policyAsRewardModel,
      join(ASSET.sentimentPolicy, MODEL_JSON_FILE),
      'holds a policy, but a reward-model is needed',
    );
    expect(existsSync(out('wrong-kind'))).toBe(false);
  });

  it('train-rm with a policy folder that does not exist exits 2 naming it and writes no reward model', () => {
    expectUserError(runs.trainRmMissing, '/nonexistent/policy', 'model folder not found');
    expect(existsSync(out('rm'))).toBe(false);
  });

  it('pretrain with a bad flag value or an unknown corpus exits 2 naming the flag', () => {
    expectUserError(runs.pretrainBadValue, '--steps', 'many');
    expectUserError(runs.pretrainBadCorpus, '--corpus', 'shakespeare');
    expect(existsSync(out('bad-value'))).toBe(false);
    expect(existsSync(out('bad-corpus'))).toBe(false);
  });

  it('pretrain and train-rm refuse to overwrite an existing model without --force, leaving it untouched', () => {
    expectUserError(runs.pretrainExisting, existing, '--force');
    expectUserError(runs.trainRmExisting, existing, '--force');
    expect(snapshot(existing)).toEqual(existingBefore);
  });
});
