import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { decodeSafetensors } from '../../src/nn/weights/safetensors.js';
import { baseWeightsHash, LORA_BASE_FILE } from '../../src/train/loraRun.js';
import { train } from '../../src/train/trainer.js';
import { TEST_BACKEND } from '../backends.js';
import {
  latestCheckpointStep,
  latestWeights,
  metricsWithoutTiming,
  tempDir,
  toyConfig,
  toyTask,
} from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('lora');
});
afterAll(() => root.cleanup());

const N = 6;
// A KL term (the reference is the base with the adapters off), GRPOVI, dropout on the adapters.
const LORA = {
  seed: 4,
  algo: 'grpovi',
  beta: 0.04,
  eval_every: 3,
  lora_r: 4,
  lora_alpha: 8,
  lora_dropout: 0.1,
  lora_target_modules: ['c_attn', 'c_fc'],
};

function latest(runDir: string, file: string): Buffer {
  const { checkpoint } = JSON.parse(readFileSync(join(runDir, 'checkpoints', 'latest.json'), 'utf8')) as {
    checkpoint: string;
  };
  return readFileSync(join(runDir, 'checkpoints', checkpoint, file));
}

describe('LoRA training runs', () => {
  let straight = '';
  beforeAll(async () => {
    const task = toyTask(4);
    straight = join(root.dir, 'straight');
    await train({ config: toyConfig(task, { ...LORA, steps: N }), task, outDir: straight });
  });

  it('checkpoints hold the adapter, its moments only, the merged model and the base it sits on', () => {
    const adapter = decodeSafetensors(
      new Uint8Array(latest(straight, 'adapter_model.safetensors')),
      'adapter',
    ).tensors;
    // c_attn and c_fc in each of the toy model's layers, A and B each.
    const keys = Object.keys(adapter);
    expect(
      keys.every((k) =>
        /^base_model\.model\.transformer\.h\.\d+\.(attn\.c_attn|mlp\.c_fc)\.lora_[AB]\.weight$/.test(k),
      ),
    ).toBe(true);
    const bKeys = keys.filter((k) => k.endsWith('lora_B.weight'));
    expect(bKeys.some((k) => adapter[k].data.some((v) => v !== 0))).toBe(true);
    const moments = decodeSafetensors(
      new Uint8Array(latest(straight, 'optimizer.safetensors')),
      'optimizer',
    ).tensors;
    expect(Object.keys(moments).length).toBeGreaterThan(0);
    expect(Object.keys(moments).every((k) => k.includes('lora_'))).toBe(true);
    const config = JSON.parse(latest(straight, 'adapter_config.json').toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0.1,
      fan_in_fan_out: true,
    });
    // The base is the toy policy of the run's seed, unchanged by training.
    const task = toyTask(4);
    const base = task.createPolicy(4, toyConfig(task, LORA));
    const record = JSON.parse(latest(straight, LORA_BASE_FILE).toString('utf8')) as {
      sha256: string;
      path: string;
    };
    expect(record.sha256).toBe(baseWeightsHash(base));
    expect(record.path).toBe('task:toy (seed 4)');
    base.dispose();
  });

  it('an interrupted LoRA run resumed to the end equals the uninterrupted run byte for byte', async () => {
    const task = toyTask(4);
    const config = toyConfig(task, { ...LORA, steps: N });
    const outDir = join(root.dir, 'interrupted');
    let lastStep = 0;
    await train({
      config,
      task,
      outDir,
      observer: { onStep: (row) => (lastStep = row.step) },
      shouldStop: () => lastStep >= N / 2,
    });
    expect(latestCheckpointStep(outDir)).toBe(N / 2);
    await train({ config, task, outDir, resumeFrom: outDir });
    expect(latestCheckpointStep(outDir)).toBe(N);
    for (const file of [
      'adapter_model.safetensors',
      'optimizer.safetensors',
      'adapter_config.json',
      LORA_BASE_FILE,
    ])
      expect(Buffer.compare(latest(outDir, file), latest(straight, file)), file).toBe(0);
    expect(Buffer.compare(latestWeights(outDir), latestWeights(straight))).toBe(0);
    expect(metricsWithoutTiming(outDir)).toEqual(metricsWithoutTiming(straight));
  });

  it('refuses to resume on another base, naming the file and both hashes', async () => {
    const task = toyTask(4);
    const outDir = join(root.dir, 'other-base');
    await train({ config: toyConfig(task, { ...LORA, steps: 2 }), task, outDir });
    const { checkpoint } = JSON.parse(readFileSync(join(outDir, 'checkpoints', 'latest.json'), 'utf8')) as {
      checkpoint: string;
    };
    const path = join(outDir, 'checkpoints', checkpoint, LORA_BASE_FILE);
    const record = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    writeFileSync(path, JSON.stringify({ ...record, sha256: '0'.repeat(64) }));
    await expect(
      train({ config: toyConfig(task, { ...LORA, steps: 4 }), task, outDir, resumeFrom: outDir }),
    ).rejects.toThrow(`${path}: the adapter was trained on a base with weights sha256 000000000000...`);
  });
});
