import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';
import { completionInput, completionLogProbs } from '../src/nn/generation/logProbs.js';
import { generate } from '../src/nn/generation/sampler.js';
import { buildSequenceInput } from '../src/nn/models/sequenceBatch.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { minibatchGradients } from '../src/nn/training/policyUpdate.js';
import { loadPolicyFolder } from '../src/nn/weights/policyFolder.js';
import { Rng } from '../src/util/rng.js';
import { makeFixtures } from '../test/nn/hfFixtures.js';
import { countKernels, timeKernels } from './webgpuCounters.js';

const fam = process.argv[2] ?? 'gpt2-tied-f32';
const { root, cleanup } = makeFixtures([fam]);
await selectBackend('webgpu');
const ctr = countKernels(tf.backend());
let t = performance.now();
const lap = (name: string) => { const c = ctr.read(); console.log(name, ((performance.now() - t) / 1000).toFixed(2), JSON.stringify(c)); ctr.reset(); t = performance.now(); };
for (let rep = 0; rep < 2; rep++) {
  const tk = rep === 1 ? timeKernels() : undefined;
  const source = loadPolicyFolder(join(root, fam));
  const { eosId, padId } = source.tokenizer;
  const model = source.create({ trainable: true });
  lap('load');
  const prompts = [[464, 3616, 286, 1204, 318], [40]];
  const input = buildSequenceInput(prompts, new Int32Array(0), 0, padId);
  tf.tidy(() => model.logits(model.forward(input).hidden).dataSync());
  lap('logits');
  const gen = generate(model, prompts, { maxNewTokens: 4, eosId, padId, rng: new Rng(3), topK: 1 });
  lap('generate');
  const batch = { prompts, completions: gen.tokens, mask: gen.mask, length: gen.length };
  const scoring = completionInput(batch, padId);
  const full = tf.tidy(() => completionLogProbs(model, batch, scoring).logProbs.dataSync() as Float32Array);
  lap('score');
  const { value, grads } = minibatchGradients(model, { batch, input: scoring, oldLogProbs: full, refLogProbs: full, advantages: Float32Array.of(1, -0.5) },
    { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, lossType: 'grpo', maxCompletionLength: 4 }, { temperature: 1 });
  for (const p of model.variables()) grads[p.variable.name].dataSync();
  lap('grads');
  const opt = new AdamW(model.variables(), { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, maxGradNorm: 1 }, false);
  opt.applyVariableGrads({ value, grads }, 1e-2);
  for (const p of model.variables()) p.variable.dataSync();
  lap('adam');
  opt.dispose(); model.dispose();
  if (tk) { console.log(tk.table()); tk.stop(); }
}
cleanup();
releaseWebgpu();
