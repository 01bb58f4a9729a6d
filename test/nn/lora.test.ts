import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { dropoutMask, LoraAdapter, mergeLora } from '../../src/nn/adapters/lora.js';
import {
  type AdapterFamily,
  adaptableProjections,
  AdapterTargetError,
  peftKey,
  selectTargets,
} from '../../src/nn/adapters/loraTargets.js';
import { gptParamSpecs, type ParamSpec } from '../../src/nn/models/gptConfig.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { hfParamSpecs, transpose2d } from '../../src/nn/models/hfParams.js';
import {
  adapterFromPeftFolder,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
  readPeftFolder,
  writePeftFolder,
} from '../../src/nn/weights/peftFolder.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { PYTHON, SKIP_REASON } from './hfFixtures.js';

const APPLY = fileURLToPath(new URL('../../scripts/peft/apply_adapter.py', import.meta.url));

const GPT2 = parseHfConfig(
  { model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 8, n_head: 2, n_layer: 2 },
  'gpt2 config',
);
const LLAMA = parseHfConfig(
  {
    model_type: 'llama',
    vocab_size: 11,
    max_position_embeddings: 16,
    hidden_size: 8,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 12,
    num_hidden_layers: 2,
  },
  'llama config',
);
const QWEN2 = parseHfConfig(
  {
    model_type: 'qwen2',
    vocab_size: 11,
    max_position_embeddings: 16,
    hidden_size: 8,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 6,
    num_hidden_layers: 1,
  },
  'qwen2 config',
);
const GPT_SPECS = gptParamSpecs({ vocabSize: 11, contextLength: 16, width: 8, depth: 2, heads: 2 });

/** Each family's specs and how its weights sit in a Hugging Face file (prefix, transposed names). */
const FAMILIES: { family: AdapterFamily; specs: ParamSpec[]; prefix: string; transposed: Set<string> }[] = [
  { family: 'gpt', specs: GPT_SPECS, prefix: 'transformer.', transposed: new Set() },
  { family: 'gpt2', specs: hfParamSpecs(GPT2), prefix: 'transformer.', transposed: new Set() },
  {
    family: 'llama',
    specs: hfParamSpecs(LLAMA),
    prefix: 'model.',
    transposed: new Set(
      hfParamSpecs(LLAMA)
        .filter((s) => s.transposed)
        .map((s) => s.name),
    ),
  },
  {
    family: 'qwen2',
    specs: hfParamSpecs(QWEN2),
    prefix: 'model.',
    transposed: new Set(
      hfParamSpecs(QWEN2)
        .filter((s) => s.transposed)
        .map((s) => s.name),
    ),
  },
];

function randomData(size: number, rng: Rng, scale = 1): Float32Array {
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = (2 * rng.uniform() - 1) * scale;
  return data;
}

/** Base weights in grpovi's layout ([in, out] projections), random. */
function randomBase(specs: readonly ParamSpec[], seed: number): Record<string, NamedTensor> {
  const rng = new Rng(seed);
  const out: Record<string, NamedTensor> = {};
  for (const s of specs)
    out[s.name] = {
      dtype: 'F32',
      shape: s.shape,
      data: randomData(
        s.shape.reduce((a, b) => a * b, 1),
        rng,
      ),
    };
  return out;
}

/** An adapter whose B is random too (a fresh one merges to the base exactly). */
function trainedAdapter(
  family: AdapterFamily,
  specs: readonly ParamSpec[],
  targets: string[] | undefined,
  seed: number,
  options: { r?: number; alpha?: number; rsLora?: boolean } = {},
): LoraAdapter {
  const adapter = LoraAdapter.init(
    family,
    specs,
    {
      r: options.r ?? 3,
      alpha: options.alpha ?? 6,
      dropout: 0,
      targetModules: targets,
      rsLora: options.rsLora,
    },
    seed,
  );
  const rng = new Rng(seed + 1);
  for (const p of adapter.variables())
    if (p.name.endsWith('lora_B.weight'))
      p.variable.assign(tf.tensor(randomData(p.variable.size, rng), p.variable.shape));
  return adapter;
}

describe('LoRA target modules (PEFT names)', () => {
  const gpt2 = adaptableProjections('gpt2', hfParamSpecs(GPT2));
  const llama = adaptableProjections('llama', hfParamSpecs(LLAMA));

  it('lists every projection with its [in, out] shape', () => {
    expect(gpt2.map((p) => p.module).slice(0, 4)).toEqual([
      'h.0.attn.c_attn',
      'h.0.attn.c_proj',
      'h.0.mlp.c_fc',
      'h.0.mlp.c_proj',
    ]);
    expect(gpt2[0]).toEqual({ module: 'h.0.attn.c_attn', inputs: 8, outputs: 24 });
    expect(
      llama.filter((p) => p.module.startsWith('layers.0.')).map((p) => [p.module, p.inputs, p.outputs]),
    ).toEqual([
      ['layers.0.self_attn.q_proj', 8, 8],
      ['layers.0.self_attn.k_proj', 8, 4],
      ['layers.0.self_attn.v_proj', 8, 4],
      ['layers.0.self_attn.o_proj', 8, 8],
      ['layers.0.mlp.gate_proj', 8, 12],
      ['layers.0.mlp.up_proj', 8, 12],
      ['layers.0.mlp.down_proj', 12, 8],
    ]);
  });

  it("uses PEFT's defaults: c_attn for GPT-2 and grpovi's GPT, q_proj and v_proj for Llama", () => {
    expect(selectTargets('gpt2', gpt2, undefined).map((p) => p.module)).toEqual([
      'h.0.attn.c_attn',
      'h.1.attn.c_attn',
    ]);
    expect(selectTargets('gpt', adaptableProjections('gpt', GPT_SPECS), undefined)).toHaveLength(2);
    expect(selectTargets('llama', llama, undefined).map((p) => p.module)).toEqual([
      'layers.0.self_attn.q_proj',
      'layers.0.self_attn.v_proj',
      'layers.1.self_attn.q_proj',
      'layers.1.self_attn.v_proj',
    ]);
  });

  it('matches names as suffixes of the module path: c_proj is both output projections, mlp.c_proj only the MLP one', () => {
    expect(selectTargets('gpt2', gpt2, ['c_proj']).map((p) => p.module)).toEqual([
      'h.0.attn.c_proj',
      'h.0.mlp.c_proj',
      'h.1.attn.c_proj',
      'h.1.mlp.c_proj',
    ]);
    expect(selectTargets('gpt2', gpt2, ['mlp.c_proj']).map((p) => p.module)).toEqual([
      'h.0.mlp.c_proj',
      'h.1.mlp.c_proj',
    ]);
    // A string is a regular expression over the full transformers module name.
    expect(
      selectTargets('llama', llama, String.raw`model\.layers\.1\..*(q|k)_proj`).map((p) => p.module),
    ).toEqual(['layers.1.self_attn.q_proj', 'layers.1.self_attn.k_proj']);
  });

  it('names a target that matches nothing, and an empty list', () => {
    expect(() => selectTargets('llama', llama, ['q_proj', 'c_attn'])).toThrow(
      'lora_target_modules: target module "c_attn" matches no projection of this llama model (adaptable: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)',
    );
    expect(() => selectTargets('gpt2', gpt2, [])).toThrow(AdapterTargetError);
    expect(() => selectTargets('gpt2', gpt2, 'lm_head')).toThrow(/matches no projection/);
    expect(() => selectTargets('gpt2', gpt2, '(')).toThrow(/not a valid regular expression/);
  });

  it("writes PEFT's key names", () => {
    expect(peftKey('gpt2', 'h.0.attn.c_attn', 'A')).toBe(
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight',
    );
    expect(peftKey('gpt', 'h.0.attn.c_attn', 'B')).toBe(
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
    );
    expect(peftKey('llama', 'layers.0.self_attn.q_proj', 'A')).toBe(
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
    );
  });
});

describe('LoRA adapters', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('initializes A Kaiming-uniform as PEFT does (uniform in +-1/sqrt(in)) and B at zero, seeded', () => {
    const specs: ParamSpec[] = [
      { name: 'layers.0.self_attn.q_proj.weight', shape: [256, 64], init: 'normal', decay: true },
    ];
    const adapter = LoraAdapter.init(
      'llama',
      specs,
      { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj'] },
      7,
    );
    const tensors = adapter.toPeftTensors();
    const a = tensors[peftKey('llama', 'layers.0.self_attn.q_proj', 'A')];
    const b = tensors[peftKey('llama', 'layers.0.self_attn.q_proj', 'B')];
    expect(a.shape).toEqual([16, 256]);
    expect(b.shape).toEqual([64, 16]);
    expect(b.data.every((v) => v === 0)).toBe(true);
    const bound = 1 / 16;
    const values = Array.from(a.data);
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...values)).toBeGreaterThan(0.99 * bound);
    expect(Math.min(...values)).toBeLessThan(-0.99 * bound);
    const n = values.length;
    const mean = values.reduce((s, v) => s + v, 0) / n;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    // U(-b, b): mean 0, variance b^2 / 3; with 4096 draws the mean's sd is about 0.009 b.
    expect(Math.abs(mean)).toBeLessThan(0.04 * bound);
    expect(variance / ((bound * bound) / 3)).toBeGreaterThan(0.93);
    expect(variance / ((bound * bound) / 3)).toBeLessThan(1.07);
    expect(adapter.scale).toBe(2);
    const again = LoraAdapter.init(
      'llama',
      specs,
      { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj'] },
      7,
    );
    expect(again.toPeftTensors()).toEqual(tensors);
    const other = LoraAdapter.init(
      'llama',
      specs,
      { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj'] },
      8,
    );
    expect(other.toPeftTensors()[peftKey('llama', 'layers.0.self_attn.q_proj', 'A')].data).not.toEqual(
      a.data,
    );
    for (const x of [adapter, again, other]) x.dispose();
  });

  it('adds x A^T B^T alpha/r to the base output, and nothing with adapters off or on a module it does not adapt', () => {
    const adapter = trainedAdapter('gpt2', hfParamSpecs(GPT2), ['c_fc'], 3, { r: 2, alpha: 5 });
    const module = 'h.1.mlp.c_fc';
    const tensors = adapter.toPeftTensors();
    const a = tensors[peftKey('gpt2', module, 'A')].data;
    const b = tensors[peftKey('gpt2', module, 'B')].data;
    const rng = new Rng(11);
    const x = randomData(3 * 8, rng);
    const base = randomData(3 * 32, rng);
    const out = tf.tidy(() =>
      adapter.apply(module, tf.tensor2d(x, [3, 8]), tf.tensor2d(base, [3, 32])).dataSync(),
    );
    for (let row = 0; row < 3; row++)
      for (let o = 0; o < 32; o++) {
        let sum = 0;
        for (let k = 0; k < 2; k++) {
          let low = 0;
          for (let i = 0; i < 8; i++) low += x[row * 8 + i] * a[k * 8 + i];
          sum += low * b[o * 2 + k];
        }
        expect(out[row * 32 + o]).toBeCloseTo(base[row * 32 + o] + 2.5 * sum, 4);
      }
    const off = adapter.withAdaptersOff(() =>
      tf.tidy(() => adapter.apply(module, tf.tensor2d(x, [3, 8]), tf.tensor2d(base, [3, 32])).dataSync()),
    );
    expect(Array.from(off)).toEqual(Array.from(base));
    const other = tf.tidy(() =>
      adapter
        .apply('h.1.attn.c_attn', tf.tensor2d(x, [3, 8]), tf.tensor2d(randomData(72, rng), [3, 24]))
        .dataSync(),
    );
    expect(other).toHaveLength(72);
    adapter.dispose();
  });

  it('a fresh adapter leaves the output bit for bit as it was', () => {
    const adapter = LoraAdapter.init('llama', hfParamSpecs(LLAMA), { r: 4, alpha: 8, dropout: 0 }, 5);
    const rng = new Rng(2);
    const base = randomData(5 * 8, rng);
    const out = tf.tidy(() =>
      adapter
        .apply(
          'layers.0.self_attn.q_proj',
          tf.tensor2d(randomData(40, rng), [5, 8]),
          tf.tensor2d(base, [5, 8]),
        )
        .dataSync(),
    );
    expect(Buffer.from(out.buffer).equals(Buffer.from(base.buffer))).toBe(true);
    adapter.dispose();
  });

  it('gradients of A and B match central finite differences (float64 reference through the same formula)', () => {
    const adapter = trainedAdapter('llama', hfParamSpecs(LLAMA), ['down_proj'], 9, { r: 2, alpha: 3 });
    const module = 'layers.0.mlp.down_proj';
    const rng = new Rng(4);
    const x = randomData(4 * 12, rng);
    const weights = randomData(4 * 8, rng);
    const [pa, pb] = adapter.variables().filter((p) => p.name.includes(module));
    const { grads } = tf.variableGrads(
      () =>
        tf.sum(
          tf.mul(
            adapter.apply(module, tf.tensor2d(x, [4, 12]), tf.zeros([4, 8])),
            tf.tensor2d(weights, [4, 8]),
          ),
        ) as tf.Scalar,
      [pa.variable, pb.variable],
    );
    const a = Float64Array.from(pa.variable.dataSync());
    const b = Float64Array.from(pb.variable.dataSync());
    // loss(A, B) = sum_{row,o} w[row,o] * scale * sum_k (x[row] . A[k]) B[o,k], in float64.
    const loss = (A: Float64Array, B: Float64Array) => {
      let total = 0;
      for (let row = 0; row < 4; row++)
        for (let o = 0; o < 8; o++)
          for (let k = 0; k < 2; k++) {
            let low = 0;
            for (let i = 0; i < 12; i++) low += x[row * 12 + i] * A[k * 12 + i];
            total += weights[row * 8 + o] * 1.5 * low * B[o * 2 + k];
          }
      return total;
    };
    const h = 1e-4;
    for (const [values, grad, isA] of [
      [a, grads[pa.variable.name].dataSync(), true],
      [b, grads[pb.variable.name].dataSync(), false],
    ] as const) {
      for (let i = 0; i < values.length; i++) {
        const plus = Float64Array.from(values);
        const minus = Float64Array.from(values);
        plus[i] += h;
        minus[i] -= h;
        const numeric = isA
          ? (loss(plus, b) - loss(minus, b)) / (2 * h)
          : (loss(a, plus) - loss(a, minus)) / (2 * h);
        expect(Math.abs(grad[i] - numeric)).toBeLessThan(1e-4 * Math.max(1, Math.abs(numeric)));
      }
    }
    tf.dispose(Object.values(grads));
    adapter.dispose();
  });

  it('dropout on the adapter input: seeded, about p of the values, and off unless set', () => {
    const mask = dropoutMask(100_000, 0.1, new Rng(1));
    const zeros = mask.filter((v) => v === 0).length;
    expect(zeros / mask.length).toBeGreaterThan(0.097);
    expect(zeros / mask.length).toBeLessThan(0.103);
    expect(mask.every((v) => v === 0 || v === Math.fround(1 / 0.9))).toBe(true);
    expect(dropoutMask(1000, 0.1, new Rng(1))).toEqual(mask.slice(0, 1000));

    const specs = hfParamSpecs(GPT2);
    const adapter = LoraAdapter.init('gpt2', specs, { r: 2, alpha: 2, dropout: 0.5 }, 1);
    const rng = new Rng(3);
    for (const p of adapter.variables())
      if (p.name.endsWith('lora_B.weight'))
        p.variable.assign(tf.tensor(randomData(p.variable.size, rng), p.variable.shape));
    const x = randomData(16, rng);
    const run = () =>
      Array.from(
        tf.tidy(() => adapter.apply('h.0.attn.c_attn', tf.tensor2d(x, [2, 8]), tf.zeros([2, 24])).dataSync()),
      );
    const plain = run();
    adapter.setDropout(42, 'step 0');
    const dropped = run();
    expect(dropped).not.toEqual(plain);
    // Every adapted projection run draws a fresh mask; the same label and count draw the same one.
    expect(run()).not.toEqual(dropped);
    adapter.setDropout(42, 'step 0');
    expect(run()).toEqual(dropped);
    adapter.setDropout(42, 'step 1');
    expect(run()).not.toEqual(dropped);
    adapter.setDropout(undefined);
    expect(run()).toEqual(plain);
    adapter.dispose();
  });

  it('merges W + alpha/r (B A)^T into the [in, out] weight', () => {
    const rng = new Rng(6);
    const [r, inputs, outputs] = [2, 3, 4];
    const w = randomData(inputs * outputs, rng);
    const a = randomData(r * inputs, rng);
    const b = randomData(outputs * r, rng);
    const merged = mergeLora(w, a, b, { r, inputs, outputs }, 0.5);
    for (let i = 0; i < inputs; i++)
      for (let o = 0; o < outputs; o++) {
        const delta = a[i] * b[o * 2] + a[inputs + i] * b[o * 2 + 1];
        expect(merged[i * outputs + o]).toBeCloseTo(w[i * outputs + o] + 0.5 * delta, 6);
      }
    expect(() => mergeLora(w, a, b, { r: 3, inputs, outputs }, 1)).toThrow(RangeError);
  });

  it('rejects bad r, alpha and dropout', () => {
    const specs = hfParamSpecs(GPT2);
    expect(() => LoraAdapter.init('gpt2', specs, { r: 0, alpha: 1, dropout: 0 }, 1)).toThrow(
      'lora_r must be a positive integer (0)',
    );
    expect(() => LoraAdapter.init('gpt2', specs, { r: 2, alpha: -1, dropout: 0 }, 1)).toThrow(
      'lora_alpha must be a positive number (-1)',
    );
    expect(() => LoraAdapter.init('gpt2', specs, { r: 2, alpha: 1, dropout: 1 }, 1)).toThrow(
      'lora_dropout must be in [0, 1) (1)',
    );
  });
});

describe('PEFT adapter folders', () => {
  let root = '';
  beforeAll(async () => {
    await selectBackend('wasm');
    root = mkdtempSync(join(tmpdir(), 'grpovi-peft-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('round trip: the folder reads back to the same matrices and options, with the fields PEFT reads', () => {
    const specs = hfParamSpecs(GPT2);
    const adapter = trainedAdapter('gpt2', specs, ['c_attn', 'c_proj'], 12, { r: 4, alpha: 16 });
    const dir = join(root, 'round-trip');
    writePeftFolder(dir, adapter, '/models/gpt2');
    const config = JSON.parse(readFileSync(join(dir, PEFT_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0,
      target_modules: ['c_attn', 'c_proj'],
      fan_in_fan_out: true,
      bias: 'none',
      base_model_name_or_path: '/models/gpt2',
      use_rslora: false,
      use_dora: false,
    });
    const file = decodeSafetensors(new Uint8Array(readFileSync(join(dir, PEFT_WEIGHTS_FILE))), 'adapter');
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(file.tensors)).toHaveLength(2 * 2 * 3);
    expect(file.tensors['base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight'].shape).toEqual([4, 32]);
    expect(file.tensors['base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight'].shape).toEqual([8, 4]);

    const folder = readPeftFolder(dir);
    expect(folder.baseModel).toBe('/models/gpt2');
    const loaded = adapterFromPeftFolder(folder, 'gpt2', specs);
    expect(loaded.scale).toBe(4);
    expect(loaded.modules()).toEqual(adapter.modules());
    expect(loaded.toPeftTensors()).toEqual(adapter.toPeftTensors());
    expect(() => writePeftFolder(dir, adapter, 'x')).toThrow(/already exists/);

    const llama = trainedAdapter('llama', hfParamSpecs(LLAMA), undefined, 2);
    writePeftFolder(join(root, 'llama'), llama, 'HuggingFaceTB/SmolLM2-135M');
    const llamaConfig = JSON.parse(readFileSync(join(root, 'llama', PEFT_CONFIG_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(llamaConfig.fan_in_fan_out).toBe(false);
    expect(llamaConfig.target_modules).toEqual(['q_proj', 'v_proj']);
    for (const x of [adapter, loaded, llama]) x.dispose();
  });

  describe.skipIf(PYTHON === undefined)(
    `merge against an independent NumPy application of the folder (${SKIP_REASON})`,
    () => {
      it.each(FAMILIES.map((f) => [f.family, f] as const))(
        '%s',
        (_name, { family, specs, prefix, transposed }) => {
          const base = randomBase(specs, 21);
          const targets =
            family === 'gpt' || family === 'gpt2'
              ? ['c_attn', 'c_proj', 'c_fc']
              : ['q_proj', 'k_proj', 'o_proj', 'down_proj', 'up_proj'];
          const adapter = trainedAdapter(family, specs, targets, 31, {
            r: 3,
            alpha: 7,
            rsLora: family === 'qwen2',
          });
          const dir = join(root, `numpy-${family}`);
          mkdirSync(dir);
          // The base in the Hugging Face file layout: body prefix, nn.Linear weights [out, in].
          const file: Record<string, NamedTensor> = {};
          for (const s of specs) {
            const t = base[s.name];
            file[prefix + s.name] = transposed.has(s.name)
              ? {
                  dtype: 'F32',
                  shape: [s.shape[1], s.shape[0]],
                  data: transpose2d(t.data as Float32Array, s.shape[0], s.shape[1]),
                }
              : t;
          }
          writeFileSync(join(dir, 'base.safetensors'), encodeSafetensors(file));
          writePeftFolder(join(dir, 'adapter'), adapter, 'base');
          execFileSync(PYTHON as string, [
            APPLY,
            join(dir, 'base.safetensors'),
            join(dir, 'adapter'),
            join(dir, 'merged.safetensors'),
          ]);
          const reference = decodeSafetensors(
            new Uint8Array(readFileSync(join(dir, 'merged.safetensors'))),
            'merged',
          ).tensors;
          const merged = adapter.mergeInto(base);
          const unprefixed = Object.fromEntries(
            Object.entries(file).map(([k, v]) => [k.slice(prefix.length), v]),
          );
          const mergedFile = adapter.mergeIntoFileLayout(unprefixed);
          const modules = adapter.modules();
          expect(Object.keys(reference).sort()).toEqual(
            modules.map((m) => `${prefix}${m.module}.weight`).sort(),
          );
          for (const { module, inputs, outputs } of modules) {
            const name = `${module}.weight`;
            const ours = transposed.has(name)
              ? transpose2d(merged[name].data as Float32Array, inputs, outputs)
              : (merged[name].data as Float32Array);
            const theirs = reference[prefix + name].data;
            expect(ours.length).toBe(theirs.length);
            let worst = 0;
            for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]));
            expect(worst).toBeLessThan(1e-6);
            const inFile = mergedFile[name].data;
            expect(mergedFile[name].shape).toEqual(reference[prefix + name].shape);
            for (let i = 0; i < inFile.length; i++) worst = Math.max(worst, Math.abs(inFile[i] - theirs[i]));
            expect(worst).toBeLessThan(1e-6);
            // The adapter changed the weight (so the comparison means something).
            expect(ours).not.toEqual(
              transposed.has(name)
                ? transpose2d(base[name].data as Float32Array, inputs, outputs)
                : base[name].data,
            );
          }
          // Tensors the adapter does not touch are passed through as they are.
          expect(merged[specs[0].name]).toBe(base[specs[0].name]);
          adapter.dispose();
        },
      );
    },
  );

  describe('bad folders name the file, the field and the value', () => {
    const specs = hfParamSpecs(LLAMA);
    let good = '';
    let goodConfig: Record<string, unknown> = {};
    let goodWeights = new Uint8Array();
    beforeAll(() => {
      const adapter = trainedAdapter('llama', specs, ['q_proj', 'v_proj'], 4);
      good = join(root, 'good');
      writePeftFolder(good, adapter, 'base');
      goodConfig = JSON.parse(readFileSync(join(good, PEFT_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
      goodWeights = new Uint8Array(readFileSync(join(good, PEFT_WEIGHTS_FILE)));
      adapter.dispose();
    });
    let count = 0;
    function folder(
      config: Record<string, unknown> | string | null,
      weights: Uint8Array | null = goodWeights,
    ): string {
      const dir = join(root, `bad-${count++}`);
      mkdirSync(dir);
      if (config !== null)
        writeFileSync(
          join(dir, PEFT_CONFIG_FILE),
          typeof config === 'string' ? config : JSON.stringify(config),
        );
      if (weights !== null) writeFileSync(join(dir, PEFT_WEIGHTS_FILE), weights);
      return dir;
    }
    const load = (dir: string) => adapterFromPeftFolder(readPeftFolder(dir), 'llama', specs).dispose();

    it('config problems', () => {
      expect(() => load(folder(null))).toThrow(/is not a PEFT adapter folder \(no adapter_config\.json\)/);
      expect(() => load(folder('{"r": 4,'))).toThrow(/adapter_config\.json: is not valid JSON/);
      const cases: [Record<string, unknown>, string][] = [
        [{ peft_type: 'IA3' }, 'field "peft_type" must be "LORA" (only LoRA adapters are read) ("IA3")'],
        [{ r: 0 }, 'field "r" must be a positive integer (0)'],
        [{ lora_alpha: 'big' }, 'field "lora_alpha" must be a positive number ("big")'],
        [{ lora_dropout: 1.5 }, 'field "lora_dropout" must be in [0, 1) (1.5)'],
        [
          { target_modules: [] },
          'field "target_modules" must be a non-empty list of module names or a regular expression ([])',
        ],
        [{ bias: 'all' }, 'field "bias" must be "none"'],
        [{ use_dora: true }, 'field "use_dora" is not supported'],
        [{ rank_pattern: { q_proj: 8 } }, 'field "rank_pattern" is not supported'],
        [{ modules_to_save: ['lm_head'] }, 'field "modules_to_save" is not supported'],
        [{ task_type: 'SEQ_CLS' }, 'field "task_type" must be "CAUSAL_LM"'],
      ];
      for (const [change, message] of cases) {
        const dir = folder({ ...goodConfig, ...change });
        expect(() => load(dir)).toThrow(`${join(dir, PEFT_CONFIG_FILE)}: ${message}`);
      }
    });

    it('weight problems', () => {
      expect(() => load(folder(goodConfig, null))).toThrow(/has no adapter_model\.safetensors/);
      const pickled = folder(goodConfig, null);
      writeFileSync(join(pickled, 'adapter_model.bin'), 'x');
      expect(() => load(pickled)).toThrow(/holds adapter_model\.bin but not adapter_model\.safetensors/);
      const tensors = decodeSafetensors(goodWeights, 'good').tensors;
      const key = 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight';
      const { [key]: dropped, ...missing } = tensors;
      expect(dropped.shape).toEqual([4, 3]);
      expect(() => load(folder(goodConfig, encodeSafetensors(missing)))).toThrow(
        `tensor "${key}" is missing`,
      );
      const reshaped = { ...tensors, [key]: { dtype: 'F32' as const, shape: [3, 4], data: dropped.data } };
      expect(() => load(folder(goodConfig, encodeSafetensors(reshaped)))).toThrow(
        `tensor "${key}" has shape [3, 4] but r and the base model need [4, 3]`,
      );
      const extraKey = 'base_model.model.model.layers.0.mlp.up_proj.lora_A.weight';
      const extra = {
        ...tensors,
        [extraKey]: { dtype: 'F32' as const, shape: [3, 8], data: new Float32Array(24) },
      };
      expect(() => load(folder(goodConfig, encodeSafetensors(extra)))).toThrow(
        `tensor "${extraKey}" is not a LoRA matrix of the targeted modules of this base model`,
      );
      expect(() => load(folder({ ...goodConfig, target_modules: ['c_attn'] }))).toThrow(
        /"c_attn" matches no projection of this llama model/,
      );
    });
  });
});
