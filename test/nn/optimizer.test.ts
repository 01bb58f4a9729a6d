import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import {
  AdamW,
  type AdamWOptions,
  JS_MOMENTS_ABOVE_PARAMETERS,
  type TrainableParam,
} from '../../src/nn/training/optimizer.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';
import { compileWat, WASM_SOURCES } from '../../scripts/watToWasm.js';
import { ADAMW_WASM } from '../../src/nn/backends/heapKernels/adamwWasm.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

/**
 * The reference: AdamW written with the backend's tensor ops (moments as tensors), the form the
 * optimizer had before its moments moved to JS memory. The JS update must give the same bits.
 */
class TensorAdamW {
  private readonly m = new Map<string, tf.Tensor>();
  private readonly v = new Map<string, tf.Tensor>();
  private steps = 0;
  constructor(
    private readonly params: TrainableParam[],
    private readonly o: AdamWOptions,
  ) {
    for (const p of params) {
      this.m.set(p.name, tf.zerosLike(p.variable));
      this.v.set(p.name, tf.zerosLike(p.variable));
    }
  }
  apply(grads: Map<string, tf.Tensor>, lr: number): number {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.o;
    const norm = tf.tidy(() =>
      Math.sqrt(tf.addN(this.params.map((p) => tf.sum(tf.square(grads.get(p.name)!)))).dataSync()[0]),
    );
    const scale = maxGradNorm > 0 && norm > maxGradNorm ? maxGradNorm / (norm + 1e-6) : 1;
    this.steps++;
    const c1 = 1 - beta1 ** this.steps;
    const rootC2 = Math.sqrt(1 - beta2 ** this.steps);
    for (const p of this.params) {
      tf.tidy(() => {
        const g = grads.get(p.name)!;
        const m1 = this.m
          .get(p.name)!
          .mul(beta1)
          .add(g.mul((1 - beta1) * scale));
        const v1 = this.v
          .get(p.name)!
          .mul(beta2)
          .add(g.square().mul((1 - beta2) * scale * scale));
        this.m.get(p.name)!.dispose();
        this.v.get(p.name)!.dispose();
        this.m.set(p.name, tf.keep(m1));
        this.v.set(p.name, tf.keep(v1));
        const step = m1.div(v1.sqrt().add(epsilon * rootC2)).mul((lr * rootC2) / c1);
        const decayed = p.decay && weightDecay > 0 ? p.variable.mul(1 - lr * weightDecay) : p.variable;
        p.variable.assign(decayed.sub(step));
      });
    }
    return norm;
  }
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

function paramsOf(seed: number): TrainableParam[] {
  const rng = new Rng(seed);
  const shapes: [string, number[], boolean][] = [
    ['w', [7, 5], true],
    ['b', [5], false],
    ['e', [3, 4, 2], true],
  ];
  return shapes.map(([name, shape, decay]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => rng.normal() * 0.3);
    return { name, variable: tf.variable(tf.tensor(values, shape)), decay };
  });
}

function gradsOf(params: TrainableParam[], rng: Rng, magnitude: number): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const p of params) {
    // Mixed magnitudes and exact zeros: the cases where a reordered formula would round differently.
    const values = Float32Array.from({ length: p.variable.size }, (_, i) =>
      i % 7 === 0 ? 0 : rng.normal() * magnitude * 10 ** (rng.int(5) - 2),
    );
    out.set(p.name, tf.tensor(values, p.variable.shape));
  }
  return out;
}

describe('AdamW with its moments in JS memory', () => {
  const cases: [string, AdamWOptions][] = [
    ['plain', { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 0 }],
    ['decay and clipping', { beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1, maxGradNorm: 0.5 }],
  ];
  // The three places the update runs: the SIMD loop on the heap as a wasm kernel (the tensor formula
  // on other backends), the SIMD loop in the optimizer's own moment memory, the JS loop.
  const storages: [string, boolean, boolean][] = [
    ['tensors', false, true],
    ['a moment memory', true, true],
    ['JS arrays', true, false],
  ];
  for (const [[label, options], [where, inJs, simd]] of cases.flatMap((c) =>
    storages.map((s) => [c, s] as const),
  )) {
    it(`updates the weights bit for bit as the tensor formula does (${label}, moments in ${where})`, () => {
      const a = paramsOf(5);
      const b = paramsOf(5);
      const ours = new AdamW(a, options, inJs, simd);
      const reference = new TensorAdamW(b, options);
      // A tensor sharing the first weight's buffer must keep its values (the update writes a new buffer).
      const shared = tf.clone(a[0].variable);
      const before = shared.dataSync().slice();
      const rng = new Rng(9);
      for (let step = 0; step < 6; step++) {
        const grads = gradsOf(a, rng, step % 2 === 0 ? 1 : 0.01);
        const lr = 1e-3 * (step + 1);
        const { gradNorm } = ours.apply(grads, lr);
        expect(gradNorm).toBe(reference.apply(grads, lr));
        for (const g of grads.values()) g.dispose();
      }
      a.forEach((p, i) => {
        const x = p.variable.dataSync() as Float32Array;
        const y = b[i].variable.dataSync() as Float32Array;
        expect(x.some((value, j) => value !== paramsOf(5)[i].variable.dataSync()[j])).toBe(true);
        expect(Buffer.from(x.buffer, x.byteOffset, x.byteLength)).toEqual(
          Buffer.from(y.buffer, y.byteOffset, y.byteLength),
        );
      });
      expect(shared.dataSync()).toEqual(before);
      shared.dispose();
      reference.dispose();
      ours.dispose();
      for (const p of [...a, ...b]) p.variable.dispose();
    });
  }

  it('keeps the moments of large models in JS memory', () => {
    const small = paramsOf(1);
    expect(
      new AdamW(small, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 })
        .momentsInJs,
    ).toBe(false);
    const big = [
      { name: 'big', variable: tf.variable(tf.zeros([JS_MOMENTS_ABOVE_PARAMETERS + 1])), decay: false },
    ];
    expect(
      new AdamW(big, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 }).momentsInJs,
    ).toBe(true);
    for (const p of [...small, ...big]) p.variable.dispose();
  });

  it('updates parameters larger than the moment memory scratch chunk (2^20 values) bit for bit', () => {
    const rng = new Rng(11);
    const size = 2 * 2 ** 20 + 7;
    const make = () => {
      const values = Float32Array.from({ length: size }, (_, i) => Math.sin(i) * 0.3);
      return [{ name: 'big', variable: tf.variable(tf.tensor(values)), decay: true }];
    };
    const a = make();
    const b = make();
    const options = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };
    const ours = new AdamW(a, options, true);
    const reference = new TensorAdamW(b, options);
    for (let step = 0; step < 2; step++) {
      const grads = new Map([['big', tf.tensor(Float32Array.from({ length: size }, () => rng.normal()))]]);
      ours.apply(grads, 1e-2);
      reference.apply(grads, 1e-2);
      for (const g of grads.values()) g.dispose();
    }
    const x = a[0].variable.dataSync() as Float32Array;
    const y = b[0].variable.dataSync() as Float32Array;
    expect(
      Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(
        Buffer.from(y.buffer, y.byteOffset, y.byteLength),
      ),
    ).toBe(true);
    ours.dispose();
    reference.dispose();
    for (const p of [...a, ...b]) p.variable.dispose();
  });

  it('runs the SIMD loop on the wasm heap without leaking tensors', () => {
    const a = paramsOf(3);
    const ours = new AdamW(
      a,
      { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 },
      false,
    );
    const grads = gradsOf(a, new Rng(1), 1);
    ours.apply(grads, 1e-2);
    const live = tf.memory().numTensors;
    ours.apply(grads, 1e-2);
    expect(tf.memory().numTensors).toBe(live);
    for (const g of grads.values()) g.dispose();
    ours.dispose();
    for (const p of a) p.variable.dispose();
  });

  it('keeps the wasm bytes of adamw.wat current (npm run build:wasm regenerates them)', async () => {
    const source = WASM_SOURCES.find((s) => s.name === 'ADAMW_WASM');
    expect(source).toBeDefined();
    const compiled = await compileWat((source as (typeof WASM_SOURCES)[number]).wat);
    expect(Buffer.from(ADAMW_WASM, 'base64').equals(Buffer.from(compiled))).toBe(true);
  });

  it('restores its moments from stateTensors (the next update equals an uninterrupted one)', () => {
    const options: AdamWOptions = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 };
    const a = paramsOf(2);
    const b = paramsOf(2);
    const first = new AdamW(a, options, true);
    const rng = new Rng(4);
    const g1 = gradsOf(a, rng, 1);
    const g2 = gradsOf(a, rng, 1);
    first.apply(g1, 1e-2);
    const second = new AdamW(b, options, true);
    second.apply(g1, 1e-2);
    const saved = structuredClone(second.stateTensors());
    const restored = new AdamW(b, options, false);
    restored.loadState(saved, second.stepCount, 'test');
    first.apply(g2, 1e-2);
    restored.apply(g2, 1e-2);
    a.forEach((p, i) => expect(p.variable.dataSync()).toEqual(b[i].variable.dataSync()));
    expect(restored.stateBytes()).toBe(2 * 4 * (35 + 5 + 24));
    for (const g of [...g1.values(), ...g2.values()]) g.dispose();
    for (const p of [...a, ...b]) p.variable.dispose();
  });
});
