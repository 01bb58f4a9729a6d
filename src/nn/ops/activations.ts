/**
 * Activations as single differentiable ops. `geluNew` is GPT-2's tanh GELU (transformers'
 * `gelu_new` / NewGELUActivation): on the wasm backend one kernel pass forward and one backward
 * (see geluNewKernel.ts); elsewhere the same formula in TF.js ops.
 */
import * as tf from '@tensorflow/tfjs';
import { GELU_NEW, GELU_NEW_GRAD, registerGeluNewKernels } from '../backends/heapKernels/geluNewKernel.js';
import { tidyCustomGrad } from './layers.js';

const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;

/** 2 sqrt(2/pi) (x + 0.044715 x^3), the argument of the sigmoid in x * sigmoid(...) = gelu_new(x). */
function sigmoidArgument(x: tf.Tensor): tf.Tensor {
  return x
    .mul(x)
    .mul(A)
    .add(1)
    .mul(x)
    .mul(2 * C);
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), float32, any shape. */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const onWasm = tf.getBackend() === 'wasm';
  if (onWasm) registerGeluNewKernels();
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = inputs[0] as tf.Tensor;
    const save = inputs[1] as tf.GradSaveFunc;
    save([input]);
    const value = onWasm
      ? (tf.engine().runKernel(GELU_NEW, { x: input }, {}) as tf.Tensor)
      : tf.tidy(() => input.mul(tf.sigmoid(sigmoidArgument(input))));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs] = saved;
        if (onWasm) return tf.engine().runKernel(GELU_NEW_GRAD, { dy, x: xs }, {}) as tf.Tensor;
        // s + x s (1 - s) 2c (1 + 3a x^2), with s = sigmoid(2c (x + a x^3)).
        const s = tf.sigmoid(sigmoidArgument(xs));
        const inner = xs
          .mul(xs)
          .mul(3 * A)
          .add(1)
          .mul(2 * C);
        return dy.mul(s.add(xs.mul(s).mul(tf.sub(1, s)).mul(inner)));
      },
    };
  });
  return op(x);
}
