import * as tf from '@tensorflow/tfjs';

/**
 * RoPE as transformers' Llama applies it: the head vector's two halves (x1 = first headWidth/2
 * entries, x2 = the rest) rotate together, x * cos + rotate_half(x) * sin with rotate_half(x) =
 * [-x2, x1], the angle of pair i at position p being p * theta^(-2i / headWidth). Angles in float64
 * here (transformers: float32); the difference is far below float32 rounding of the result.
 * Tables [rows, 1, headWidth] for the given positions, broadcast over heads.
 */
export function ropeTables(
  positions: Int32Array,
  headWidth: number,
  theta: number,
): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const half = headWidth / 2;
  const cos = new Float32Array(positions.length * headWidth);
  const sin = new Float32Array(positions.length * headWidth);
  for (let r = 0; r < positions.length; r++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[r] * theta ** ((-2 * i) / headWidth);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[r * headWidth + i] = c;
      cos[r * headWidth + half + i] = c;
      sin[r * headWidth + i] = s;
      sin[r * headWidth + half + i] = s;
    }
  }
  const shape: [number, number, number] = [positions.length, 1, headWidth];
  return { cos: tf.tensor3d(cos, shape), sin: tf.tensor3d(sin, shape) };
}

/** Rotates rows x [rows, heads * headWidth] by the tables of their positions. */
export function applyRope(
  x: tf.Tensor,
  heads: number,
  headWidth: number,
  tables: { cos: tf.Tensor; sin: tf.Tensor },
): tf.Tensor {
  const rows = x.shape[0];
  const half = headWidth / 2;
  const v = x.reshape([rows, heads, headWidth]);
  const x1 = v.slice([0, 0, 0], [rows, heads, half]);
  const x2 = v.slice([0, 0, half], [rows, heads, half]);
  const rotated = tf.concat([tf.neg(x2), x1], 2);
  return v
    .mul(tables.cos)
    .add(rotated.mul(tables.sin))
    .reshape([rows, heads * headWidth]);
}
