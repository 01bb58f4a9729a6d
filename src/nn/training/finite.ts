import * as tf from '@tensorflow/tfjs';
import type { PolicyModel } from '../models/policyModel.js';

/**
 * The name of the first parameter of `model` holding a NaN or an infinity, or undefined when all
 * are finite. One reduction per parameter and a single read back, so it is cheap next to a step.
 */
export function firstNonFiniteParam(model: PolicyModel): string | undefined {
  const params = model.variables();
  const names = params.map((p) => p.name);
  const flags = tf.tidy(() => tf.stack(params.map((p) => tf.all(tf.isFinite(p.variable)).cast('int32'))));
  try {
    const data = flags.dataSync();
    const bad = data.findIndex((ok) => ok === 0);
    return bad < 0 ? undefined : names[bad];
  } finally {
    flags.dispose();
  }
}
