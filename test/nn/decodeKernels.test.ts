import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, setFusedKernels } from '../../src/nn/backends/backend.js';
import {
  DECODE_ATTENTION,
  DECODE_GELU_NEW,
  DECODE_LAYER_NORM,
  DECODE_RMS_NORM,
  DECODE_ROPE_QKV,
  DECODE_SWIGLU,
} from '../../src/nn/backends/blas/decodeKernels.js';
import { applyRope, ropeTables } from '../../src/nn/models/rope.js';
import { DECODE_KERNELS_WASM } from '../../src/nn/backends/blas/decodeKernelsWasm.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { completionInput, completionLogProbs } from '../../src/nn/generation/logProbs.js';
import { layerNorm } from '../../src/nn/ops/layers.js';
import { geluNew } from '../../src/nn/ops/activations.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { MASKED } from '../../src/nn/models/sequenceBatch.js';
import { Rng } from '../../src/util/rng.js';
import { compileWat, WASM_SOURCES } from '../../scripts/watToWasm.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED, TEST_BACKEND } from '../backends.js';
import { maxRelativeError } from './relativeError.js';

function normals(rng: Rng, size: number, scale = 1): Float32Array {
  return Float32Array.from({ length: size }, () => rng.normal() * scale);
}

interface AttentionCase {
  rows: number;
  queries: number;
  heads: number;
  /** Key/value heads (a divisor of heads; fewer: grouped-query attention). */
  kvHeads: number;
  headWidth: number;
  keys: number;
  capacity: number;
  qkv: Float32Array;
  k: Float32Array;
  v: Float32Array;
  bias: Float32Array;
}

function attentionCase(rng: Rng): AttentionCase {
  const rows = 1 + rng.int(5);
  const queries = 1 + rng.int(3);
  const heads = 1 + rng.int(4);
  const divisors = [1, 2, 3, 4].filter((n) => heads % n === 0);
  // Half the cases multi-head (kvHeads = heads), the others any divisor.
  const kvHeads = rng.int(2) === 0 ? heads : divisors[rng.int(divisors.length)];
  const headWidth = 4 * (1 + rng.int(6));
  const keys = queries + rng.int(12);
  const capacity = keys + rng.int(4);
  const kvGroups = rows * kvHeads;
  const qkvWidth = (heads + 2 * kvHeads) * headWidth;
  // Masked keys as the sampler's left padding makes them (a prefix of each sequence, never its own
  // key), and the causal mask: query t sees keys up to keys - queries + t.
  const bias = new Float32Array(queries * rows * keys);
  for (let b = 0; b < rows; b++) {
    const masked = rng.int(keys - queries + 1);
    for (let t = 0; t < queries; t++) {
      const row = (t * rows + b) * keys;
      for (let j = 0; j < keys; j++) if (j < masked || j > keys - queries + t) bias[row + j] = MASKED;
    }
  }
  return {
    rows,
    queries,
    heads,
    kvHeads,
    headWidth,
    keys,
    capacity,
    qkv: normals(rng, queries * rows * qkvWidth, 2),
    k: normals(rng, capacity * kvGroups * headWidth, 2),
    v: normals(rng, capacity * kvGroups * headWidth),
    bias,
  };
}

/**
 * Cached attention by brute force in float64: the new tokens' keys and values (qkv row t * B + b:
 * q | k | v) are keys filled + t, earlier keys come from the caches as given; query head h reads
 * key/value head floor(h / (heads / kvHeads)).
 */
function bruteAttention(c: AttentionCase): Float64Array {
  const { rows, queries, heads, kvHeads, headWidth: d, keys } = c;
  const kvGroups = rows * kvHeads;
  const width = heads * d;
  const kvWidth = kvHeads * d;
  const qkvWidth = width + 2 * kvWidth;
  const filled = keys - queries;
  const out = new Float64Array(queries * rows * width);
  for (let t = 0; t < queries; t++) {
    for (let b = 0; b < rows; b++) {
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / (heads / kvHeads));
        const g = b * kvHeads + kh;
        const qkvAt = (r: number, offset: number, i: number) => c.qkv[(r * rows + b) * qkvWidth + offset + i];
        const key = (j: number, i: number) =>
          j >= filled ? qkvAt(j - filled, width + kh * d, i) : c.k[(j * kvGroups + g) * d + i];
        const value = (j: number, i: number) =>
          j >= filled ? qkvAt(j - filled, width + kvWidth + kh * d, i) : c.v[(j * kvGroups + g) * d + i];
        const scores = Array.from({ length: keys }, (_, j) => {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += qkvAt(t, h * d, i) * key(j, i);
          return dot / Math.sqrt(d) + c.bias[(t * rows + b) * keys + j];
        });
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, w) => a + w, 0);
        for (let i = 0; i < d; i++) {
          let sum = 0;
          for (let j = 0; j < keys; j++) sum += weights[j] * value(j, i);
          out[(t * rows + b) * width + h * d + i] = sum / total;
        }
      }
    }
  }
  return out;
}

function bruteLayerNorm(
  x: Float32Array,
  gain: Float32Array,
  bias: Float32Array,
  width: number,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    let mean = 0;
    for (let i = 0; i < width; i++) mean += x[r * width + i] / width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (x[r * width + i] - mean) ** 2 / width;
    for (let i = 0; i < width; i++)
      out[r * width + i] = ((x[r * width + i] - mean) / Math.sqrt(variance + 1e-5)) * gain[i] + bias[i];
  }
  return out;
}

describe('the decode kernels’ wasm bytes', () => {
  it('are what decodeKernels.wat compiles to (npm run build:wasm regenerates them)', async () => {
    const source = WASM_SOURCES.find((s) => s.name === 'DECODE_KERNELS_WASM');
    expect(source).toBeDefined();
    const compiled = await compileWat((source as (typeof WASM_SOURCES)[number]).wat);
    expect(Buffer.from(DECODE_KERNELS_WASM, 'base64').equals(Buffer.from(compiled))).toBe(true);
  });
});

describe.skipIf(!BLAS_AVAILABLE)(`decode kernels on the BLAS path${BLAS_SKIPPED}`, () => {
  beforeAll(async () => {
    await selectBackend('blas');
  });
  afterAll(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('attention matches a float64 brute force on random shapes (one or several new tokens, grouped-query or not) and writes their keys and values in place', () => {
    const rng = Rng.derive(1, 'decode-attention');
    for (let trial = 0; trial < 60; trial++) {
      const c = attentionCase(rng);
      const kvGroups = c.rows * c.kvHeads;
      const row = kvGroups * c.headWidth;
      const expected = bruteAttention(c);
      tf.tidy(() => {
        const k = tf.tensor3d(c.k.slice(), [c.capacity, kvGroups, c.headWidth]);
        const v = tf.tensor3d(c.v.slice(), [c.capacity, kvGroups, c.headWidth]);
        const width = c.heads * c.headWidth;
        const kvWidth = c.kvHeads * c.headWidth;
        const qkvWidth = width + 2 * kvWidth;
        const [out, kOut, vOut] = tf.engine().runKernel(
          DECODE_ATTENTION,
          {
            qkv: tf.tensor2d(c.qkv, [c.queries * c.rows, qkvWidth]),
            k,
            v,
            bias: tf.tensor2d(c.bias, [c.queries * c.rows, c.keys]),
          },
          { heads: c.heads, kvHeads: c.kvHeads, keys: c.keys, queries: c.queries },
        ) as tf.Tensor[];
        expect(out.shape).toEqual([c.queries * c.rows, width]);
        expect(maxRelativeError(out.dataSync(), expected)).toBeLessThan(1e-5);
        const kAfter = kOut.dataSync();
        const vAfter = vOut.dataSync();
        const filled = c.keys - c.queries;
        // Earlier rows and the spare rows after the new ones are untouched.
        for (const [after, before] of [
          [kAfter, c.k],
          [vAfter, c.v],
        ]) {
          expect(Array.from(after.subarray(0, filled * row))).toEqual(
            Array.from(before.subarray(0, filled * row)),
          );
          expect(Array.from(after.subarray(c.keys * row))).toEqual(Array.from(before.subarray(c.keys * row)));
        }
        for (let t = 0; t < c.queries; t++) {
          for (let b = 0; b < c.rows; b++) {
            const from = (t * c.rows + b) * qkvWidth;
            const to = (filled + t) * row + b * kvWidth;
            for (let i = 0; i < kvWidth; i++) {
              expect(kAfter[to + i]).toBe(c.qkv[from + width + i]);
              expect(vAfter[to + i]).toBe(c.qkv[from + width + kvWidth + i]);
            }
          }
        }
      });
    }
  });

  it('attention refuses shapes that do not fit, naming them', () => {
    const call = (keys: number, headWidth: number) =>
      tf.tidy(() =>
        tf.engine().runKernel(
          DECODE_ATTENTION,
          {
            qkv: tf.zeros([2, 3 * 2 * headWidth]),
            k: tf.zeros([4, 4, headWidth]),
            v: tf.zeros([4, 4, headWidth]),
            bias: tf.zeros([2, keys]),
          },
          { heads: 2, keys },
        ),
      );
    expect(() => call(5, 8)).toThrow(/shapes do not fit .*k \[4, 4, 8\].*keys 5/);
    expect(() => call(3, 6)).toThrow(/head width must be a multiple of 4/);
  });

  it('LayerNorm matches a float64 brute force and the model’s layerNorm', () => {
    const rng = Rng.derive(2, 'decode-layer-norm');
    for (let trial = 0; trial < 30; trial++) {
      const rows = 1 + rng.int(70);
      const width = 4 * (1 + rng.int(40));
      const x = normals(rng, rows * width, 3);
      for (let i = 0; i < width; i++) x[i] += 50; // a row far from zero mean
      const gain = normals(rng, width);
      const bias = normals(rng, width);
      const expected = bruteLayerNorm(x, gain, bias, width);
      tf.tidy(() => {
        const inputs = { x: tf.tensor2d(x, [rows, width]), gain: tf.tensor1d(gain), bias: tf.tensor1d(bias) };
        const out = tf.engine().runKernel(DECODE_LAYER_NORM, inputs, { eps: 1e-5 }) as tf.Tensor;
        expect(maxRelativeError(out.dataSync(), expected)).toBeLessThan(1e-5);
        const reference = layerNorm(inputs.x, inputs.gain, inputs.bias).dataSync();
        expect(maxRelativeError(out.dataSync(), reference)).toBeLessThan(1e-5);
      });
    }
  });

  it('RoPE on q and k, laid side by side with v: the same bits as applyRope and a concatenation', () => {
    const rng = Rng.derive(2, 'decode-rope-qkv');
    for (let trial = 0; trial < 20; trial++) {
      const rows = 1 + rng.int(9);
      const kvHeads = 1 + rng.int(3);
      const heads = kvHeads * (1 + rng.int(3));
      const d = 2 * (1 + rng.int(12));
      const positions = Int32Array.from({ length: rows }, () => rng.int(500));
      tf.tidy(() => {
        const tables = ropeTables(positions, d, 10000);
        const q = tf.tensor2d(normals(rng, rows * heads * d, 2), [rows, heads * d]);
        const k = tf.tensor2d(normals(rng, rows * kvHeads * d, 2), [rows, kvHeads * d]);
        const v = tf.tensor2d(normals(rng, rows * kvHeads * d, 2), [rows, kvHeads * d]);
        const out = tf
          .engine()
          .runKernel(
            DECODE_ROPE_QKV,
            { q, k, v, cos: tables.cos, sin: tables.sin },
            { heads, kvHeads },
          ) as tf.Tensor;
        const expected = tf.concat([applyRope(q, heads, d, tables), applyRope(k, kvHeads, d, tables), v], 1);
        expect(out.shape).toEqual(expected.shape);
        expect(Buffer.from(out.dataSync().buffer).equals(Buffer.from(expected.dataSync().buffer))).toBe(true);
      });
    }
    expect(() =>
      tf.tidy(() => {
        const t = tf.zeros([2, 8]);
        const c = tf.zeros([2, 1, 4]);
        tf.engine().runKernel(
          DECODE_ROPE_QKV,
          { q: t, k: t, v: tf.zeros([2, 4]), cos: c, sin: c },
          { heads: 2, kvHeads: 2 },
        );
      }),
    ).toThrow(/GrpoviDecodeRopeQkv: shapes do not fit .*v \[2, 4\]/);
  });

  it('RMSNorm matches a float64 brute force and the ops the model otherwise runs', () => {
    const rng = Rng.derive(2, 'decode-rms-norm');
    for (let trial = 0; trial < 20; trial++) {
      const rows = 1 + rng.int(20);
      const width = 1 + rng.int(70);
      const x = normals(rng, rows * width, 3);
      const gain = normals(rng, width);
      const expected = new Float32Array(rows * width);
      for (let r = 0; r < rows; r++) {
        let squares = 0;
        for (let i = 0; i < width; i++) squares += x[r * width + i] ** 2;
        const scale = 1 / Math.sqrt(squares / width + 1e-6);
        for (let i = 0; i < width; i++) expected[r * width + i] = x[r * width + i] * scale * gain[i];
      }
      tf.tidy(() => {
        const xt = tf.tensor2d(x, [rows, width]);
        const g = tf.tensor1d(gain);
        const out = tf.engine().runKernel(DECODE_RMS_NORM, { x: xt, gain: g }, { eps: 1e-6 }) as tf.Tensor;
        expect(maxRelativeError(out.dataSync(), expected)).toBeLessThan(1e-6);
        const ops = xt.mul(tf.rsqrt(tf.mean(tf.square(xt), -1, true).add(1e-6))).mul(g);
        expect(maxRelativeError(out.dataSync(), ops.dataSync())).toBeLessThan(1e-5);
      });
    }
  });

  it('silu(gate) * up matches a float64 brute force, and the ops the model otherwise runs bit for bit', () => {
    const rng = Rng.derive(2, 'decode-swiglu');
    const size = 3000;
    const gate = normals(rng, size, 6);
    const up = normals(rng, size, 2);
    const expected = Float32Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]);
    tf.tidy(() => {
      const [g, u] = [tf.tensor2d(gate, [30, 100]), tf.tensor2d(up, [30, 100])];
      const out = tf.engine().runKernel(DECODE_SWIGLU, { gate: g, up: u }, {}) as tf.Tensor;
      expect(out.shape).toEqual([30, 100]);
      expect(maxRelativeError(out.dataSync(), expected)).toBeLessThan(1e-6);
      const ops = g.mul(tf.sigmoid(g)).mul(u).dataSync();
      expect(Buffer.from(out.dataSync().buffer).equals(Buffer.from(ops.buffer))).toBe(true);
    });
  });

  it('gelu_new matches a float64 brute force and geluNew (the op the model otherwise runs)', () => {
    const rng = Rng.derive(2, 'decode-gelu-new');
    const x = normals(rng, 4000, 4);
    const expected = Float32Array.from(
      x,
      (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    );
    tf.tidy(() => {
      const xt = tf.tensor2d(x, [40, 100]);
      const out = tf.engine().runKernel(DECODE_GELU_NEW, { x: xt }, {}) as tf.Tensor;
      expect(out.shape).toEqual([40, 100]);
      expect(maxRelativeError(out.dataSync(), expected)).toBeLessThan(1e-6);
      expect(maxRelativeError(out.dataSync(), geluNew(xt).dataSync())).toBeLessThan(1e-6);
    });
  });

  it('KV-cached sampling through the kernels: the log-probs of a full forward pass, and the same tokens as without them', () => {
    // Heads of width 24 as the sentiment policy's; 9 + 14 tokens cross two doublings of the cache.
    const config = { vocabSize: 40, contextLength: 24, width: 48, depth: 2, heads: 2 };
    const model = Gpt.init(config, 4);
    const rng = new Rng(3);
    const prompts = Array.from({ length: 7 }, () =>
      Array.from({ length: 1 + rng.int(9) }, () => 2 + rng.int(38)),
    );
    const sample = () =>
      generate(model, prompts, { maxNewTokens: 14, eosId: 1, padId: 0, rng: new Rng(8), temperature: 1.3 });
    const gen = sample();
    const batch = { prompts, completions: gen.tokens, mask: gen.mask, length: gen.length };
    const full = tf.tidy(() =>
      completionLogProbs(model, batch, completionInput(batch, 0), { temperature: 1.3 }).logProbs.dataSync(),
    );
    let checked = 0;
    for (let i = 0; i < gen.mask.length; i++) {
      if (gen.mask[i] === 0) continue;
      expect(Math.abs(full[i] - gen.logProbs[i])).toBeLessThan(1e-5);
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
    // Same seed: bit-identical with itself; without the decode kernels (concat cache, sgemm
    // attention, LayerNorm ops) the same tokens, the log-probs to float32 rounding.
    const again = sample();
    expect(Array.from(again.tokens)).toEqual(Array.from(gen.tokens));
    expect(Array.from(again.logProbs)).toEqual(Array.from(gen.logProbs));
    setFusedKernels(false);
    let plain;
    try {
      plain = sample();
    } finally {
      setFusedKernels(true);
    }
    expect(Array.from(plain.tokens)).toEqual(Array.from(gen.tokens));
    expect(maxRelativeError(plain.logProbs, gen.logProbs)).toBeLessThan(1e-5);
    model.dispose();
  });
});
