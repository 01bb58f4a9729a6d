import * as tf from '@tensorflow/tfjs';

/** LayerNorm over the last axis. */
export function layerNorm(x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor, eps = 1e-5): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x
    .sub(mean)
    .mul(tf.rsqrt(variance.add(eps)))
    .mul(gain)
    .add(bias);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (as in GPT-2). */
export function gelu(x: tf.Tensor): tf.Tensor {
  const inner = x.add(x.pow(3).mul(0.044715)).mul(GELU_C);
  return x.mul(tf.tanh(inner).add(1)).mul(0.5);
}

/**
 * Rows of `table` for `ids`. The gradient is a scatter-add done in JS: the wasm backend has no
 * gradient for gather, and a one-hot matmul would cost as much as the output projection.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [rows, width] = table.shape;
  const lookup = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const value = tf.gather(inputs[0] as tf.Tensor, tf.tensor1d(ids, 'int32')) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor) => {
      const upstream = dy.dataSync();
      const grad = new Float32Array(rows * width);
      for (let n = 0; n < ids.length; n++) {
        const dst = ids[n] * width;
        const src = n * width;
        for (let k = 0; k < width; k++) grad[dst + k] += upstream[src + k];
      }
      return tf.tensor2d(grad, [rows, width]);
    };
    return { value, gradFunc };
  });
  return lookup(table) as tf.Tensor2D;
}

/**
 * One-hot rows as float32. Built as int32 and cast: the wasm backend's oneHot with a float dtype
 * writes integer bit patterns (1 comes out as 1.4e-45).
 */
export function oneHotFloat(ids: Int32Array, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), depth), 'float32') as tf.Tensor2D);
}
