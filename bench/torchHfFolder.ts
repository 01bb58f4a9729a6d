/**
 * The folder `npm run bench:torch-hf` and its test hand to the PyTorch twin (bench/torch_hf.py):
 * seeded random weights as a transformers folder (config.json + model.safetensors), a LoRA adapter
 * under PEFT's names (adapter_model.safetensors), and grpovi's logits on a check batch with the
 * adapters off (logits.f32) and on (lora_logits.f32), with the batch's ids in check.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoraAdapter, type LoraOptions } from '../src/nn/adapters/lora.js';
import { PEFT_DEFAULT_TARGETS } from '../src/nn/adapters/loraTargets.js';
import { parseHfConfig } from '../src/nn/models/hfConfig.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import { buildSequenceInput } from '../src/nn/models/sequenceBatch.js';
import { readFloats } from '../src/nn/ops/layers.js';
import { decodeSafetensors, encodeSafetensors } from '../src/nn/weights/safetensors.js';
import { Rng } from '../src/util/rng.js';

/** The LoRA rows: PEFT's default targets for the family (LoraAdapter's default), r 16, alpha 32. */
export const LORA: LoraOptions = { r: 16, alpha: 32, dropout: 0 };
/** B's entries, uniform in +-this: nonzero so the logits check exercises the adapters. */
const LORA_B_RANGE = 0.05;
export const ADAPTER_FILE = 'adapter_model.safetensors';

/**
 * Writes the folder for the model of `raw` (a transformers config.json object): weights from `seed`,
 * the adapter (grpovi's fresh one, A Kaiming-uniform, with B drawn nonzero) and the logits of a
 * check batch of `rows` x `length` random ids. Returns the adapter's parameter count.
 */
export function writeTwinFolder(
  dir: string,
  raw: object,
  label: string,
  check: { seed: number; rows: number; length: number; promptLength?: number },
): number {
  const config = parseHfConfig(raw, label);
  const model = HfDecoder.init(config, check.seed, { trainable: false });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(model.toHfTensors()));
  const rng = new Rng(check.seed + 1);
  const ids = Array.from({ length: check.rows }, () =>
    Array.from({ length: check.length }, () => rng.int(config.vocabSize)),
  );
  const promptLength = check.promptLength ?? check.length >> 1;
  const input = buildSequenceInput(
    ids.map((row) => row.slice(0, promptLength)),
    Int32Array.from(ids.flatMap((row) => row.slice(promptLength))),
    check.length - promptLength,
    0,
  );
  const writeLogits = (file: string) => {
    const logits = readFloats(() => model.logits(model.forward(input).hidden));
    writeFileSync(join(dir, file), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
  };
  writeLogits('logits.f32');
  const fresh = LoraAdapter.init(config.modelType, model.specs, LORA, check.seed + 2);
  const tensors = fresh.toPeftTensors();
  fresh.dispose();
  const bRng = new Rng(check.seed + 3);
  for (const [name, t] of Object.entries(tensors))
    if (name.endsWith('.lora_B.weight'))
      t.data = Float32Array.from(t.data, () => (2 * bRng.uniform() - 1) * LORA_B_RANGE);
  writeFileSync(join(dir, ADAPTER_FILE), encodeSafetensors(tensors));
  const adapter = loadAdapter(dir, model);
  model.attachAdapter(adapter);
  writeLogits('lora_logits.f32');
  model.attachAdapter(undefined);
  const lora = {
    r: LORA.r,
    alpha: LORA.alpha,
    targets: PEFT_DEFAULT_TARGETS[config.modelType],
    modules: adapter.modules().map((m) => m.module),
  };
  const count = adapter.parameterCount();
  adapter.dispose();
  writeFileSync(join(dir, 'check.json'), `${JSON.stringify({ ids, lora })}\n`);
  model.dispose();
  return count;
}

/** The adapter written beside the weights, as LoRA options over this model's projections. */
export function loadAdapter(dir: string, model: HfDecoder): LoraAdapter {
  const file = join(dir, ADAPTER_FILE);
  const { tensors } = decodeSafetensors(readFileSync(file), file);
  return LoraAdapter.fromPeftTensors(model.config.modelType, model.specs, LORA, tensors, file);
}
