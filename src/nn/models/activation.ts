import * as tf from '@tensorflow/tfjs';
import { geluNew } from '../ops/activations.js';
import { gelu } from '../ops/layers.js';
import type { Activation } from './architecture.js';

/** The MLP activations by their transformers names (activations.py): the one place they are computed. */
export function activate(kind: Activation, x: tf.Tensor): tf.Tensor {
  switch (kind) {
    case 'gelu_new': // the tanh approximation (NewGELUActivation, GPT-2's default), one fused op
      return geluNew(x);
    case 'gelu': // the exact erf form
      return x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));
    case 'quick_gelu': // x * sigmoid(1.702 x), the form grpovi's own GPT uses
      return gelu(x);
    case 'silu':
      return x.mul(tf.sigmoid(x));
    case 'relu':
      return tf.relu(x);
  }
}
