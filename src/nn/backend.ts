import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendName } from './backendNames.js';

export { BACKENDS, type BackendName } from './backendNames.js';

let quieted = false;

/** TF.js prints a banner suggesting tfjs-node, which cannot be installed here; keep the log clean. */
function quietBanner(): void {
  if (quieted) return;
  quieted = true;
  tf.env().set('PROD', true);
  const originalWarn = console.warn;
  console.warn = (...args: unknown[]) => {
    const text = String(args[0] ?? '');
    if (text.includes('looks like you are running TensorFlow.js in Node.js') || text.startsWith('====='))
      return;
    originalWarn(...args);
  };
}

/**
 * Activates the preferred backend, falling back to `cpu` if it cannot start.
 * Resolves to the backend that actually runs.
 */
export async function selectBackend(preferred: BackendName = 'wasm'): Promise<BackendName> {
  quietBanner();
  if (tf.getBackend() === preferred) return preferred;
  try {
    if (await tf.setBackend(preferred)) {
      await tf.ready();
      return preferred;
    }
  } catch {
    // fall through to cpu
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}

/** The backend in use now, if it is one of ours. */
export function currentBackend(): BackendName | undefined {
  const name = tf.getBackend();
  return name === 'wasm' || name === 'cpu' ? name : undefined;
}
