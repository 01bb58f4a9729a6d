import * as tf from '@tensorflow/tfjs';

/**
 * Makes a registered TF.js backend the active one; false (never a throw) when it does not start,
 * so the caller can fall back or refuse with its own message. Node-free: the browser entry uses it too.
 */
export async function activateBackend(name: string): Promise<boolean> {
  if (tf.getBackend() === name) return true;
  try {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return true;
    }
  } catch {
    // reported by the caller
  }
  return false;
}
