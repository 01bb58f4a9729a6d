import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { loadModelDir, modelDirFiles } from '../../src/nn/weights/modelDir.js';
import { AdamW, type AdamWOptions } from '../../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../../src/nn/training/policyUpdate.js';
import { PromptStream } from '../../src/train/promptStream.js';
import { rollout, sliceBatch } from '../../src/train/rollout.js';
import { locateCheckpoint, readRunCheckpoint, writeRunCheckpoint } from '../../src/train/runCheckpoint.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir, toyTask } from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('checkpoint');
});
afterAll(() => root.cleanup());

const ADAM: AdamWOptions = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
const OBJECTIVE = {
  epsilon: 0.2,
  epsilonHigh: 0.2,
  beta: 0,
  lossType: 'grpo' as const,
  maxCompletionLength: 8,
};

describe('run checkpoints', () => {
  it('round-trip the policy (same log-probs), the optimizer (same next update) and the trainer state', () => {
    const task = toyTask(6);
    const policy = task.createPolicy(6, {}) as Gpt;
    const optimizer = new AdamW(policy.variables(), ADAM);
    const rng = new Rng(6);
    const stream = new PromptStream(task.trainPrompts, 6);
    const sampling = { maxNewTokens: 8, temperature: 1, topK: 0, topP: 1 };
    // Some updates, so that the weights and both moments are far from their initial values.
    const update = (model: Gpt, opt: AdamW, prompts: string[], seed: number) => {
      const ro = rollout(model, task.tokenizer, prompts, 4, sampling, new Rng(seed));
      const { input } = sliceBatch(ro.batch, 0, ro.promptTexts.length, task.tokenizer.padId);
      const advantages = Float32Array.from(ro.promptTexts, (_, i) => ((i * 7) % 5) - 2);
      policyGradientStep(model, opt, { batch: ro.batch, input, advantages }, OBJECTIVE, {
        temperature: 1,
        learningRate: 3e-3,
      });
    };
    for (let k = 0; k < 3; k++) update(policy, optimizer, stream.next(4), 100 + k);
    rng.nextUint32();

    const state = {
      step: 3,
      optimizerSteps: optimizer.stepCount,
      samplingRng: rng.getState(),
      promptStream: stream.state(),
    };
    const files = modelDirFiles({
      kind: 'policy',
      config: policy.config,
      tokenizer: task.tokenizer,
      tensors: policy.toTensors(),
      info: { step: 3 },
    });
    const runDir = join(root.dir, 'run');
    const written = writeRunCheckpoint(runDir, state, optimizer.stateTensors(), files);
    const { checkpointDir } = locateCheckpoint(runDir);
    expect(checkpointDir).toBe(written);

    // The policy.
    const saved = loadModelDir(checkpointDir, 'policy');
    expect(saved.config).toEqual(policy.config);
    expect(saved.tokenizer.toJSON()).toEqual(task.tokenizer.toJSON());
    const loaded = Gpt.fromTensors(saved.config, saved.tensors, { trainable: true });
    const probe = rollout(policy, task.tokenizer, stream.next(6), 2, sampling, new Rng(7));
    const { input } = sliceBatch(probe.batch, 0, probe.promptTexts.length, task.tokenizer.padId);
    const before = scoreLogProbs(policy, probe.batch, input, { temperature: 1 }).logProbs;
    const after = scoreLogProbs(loaded, probe.batch, input, { temperature: 1 }).logProbs;
    expect(Array.from(after)).toEqual(Array.from(before));

    // The optimizer: the same moments, and the same next update from the same gradient.
    const { state: savedState, optimizer: moments } = readRunCheckpoint(checkpointDir);
    expect(savedState).toMatchObject(state);
    const restored = new AdamW(loaded.variables(), ADAM);
    restored.loadState(moments, savedState.optimizerSteps, 'test');
    expect(restored.stepCount).toBe(3);
    const original = optimizer.stateTensors();
    const copy = restored.stateTensors();
    expect(Object.keys(copy).sort()).toEqual(Object.keys(original).sort());
    for (const name of Object.keys(original))
      expect(Array.from(copy[name].data), name).toEqual(Array.from(original[name].data));
    const next = stream.next(4);
    update(policy, optimizer, next, 200);
    update(loaded, restored, next, 200);
    const a = policy.toTensors();
    const b = loaded.toTensors();
    for (const name of Object.keys(a))
      expect(Array.from(b[name].data), name).toEqual(Array.from(a[name].data));
    // A fresh optimizer (no moments) would have moved the weights differently: the check above can fail.
    const fresh = Gpt.fromTensors(saved.config, saved.tensors, { trainable: true });
    const freshOptimizer = new AdamW(fresh.variables(), ADAM);
    update(fresh, freshOptimizer, next, 200);
    expect(Array.from(fresh.toTensors().wte.data)).not.toEqual(Array.from(a.wte.data));

    // The trainer state: generator and prompt order continue where they were.
    const rngCopy = new Rng(savedState.samplingRng);
    expect(rngCopy.nextUint32()).toBe(new Rng(state.samplingRng).nextUint32());
    const streamCopy = new PromptStream(task.trainPrompts, 999);
    streamCopy.restore(savedState.promptStream);
    const streamAgain = new PromptStream(task.trainPrompts, 999);
    streamAgain.restore(state.promptStream);
    expect(streamCopy.next(50)).toEqual(streamAgain.next(50));

    for (const m of [policy, loaded, fresh]) m.dispose();
    for (const o of [optimizer, restored, freshOptimizer]) o.dispose();
  });
});
