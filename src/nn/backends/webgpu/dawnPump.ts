/**
 * Synchronous progress for Dawn in Node. dawn.node delivers GPU callbacks (a buffer mapped for
 * reading, ...) from a function it schedules with the global `setImmediate` while a task waits, so
 * they run only when the event loop turns. TF.js's `dataSync()` must wait for a read without
 * returning to the event loop: this module wraps `setImmediate` so that Dawn's scheduled function
 * can also be called directly, and `pumpDawn()` calls it. Each scheduled function runs at most once
 * (directly or from the event loop), as Dawn expects. No TF.js here.
 */

type Tick = () => void;

const scheduled = new Set<Tick>();
let installed = false;

/** Whether a function is native (dawn.node's tick is made with Napi::Function::New). */
function isNative(fn: unknown): fn is Tick {
  return typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');
}

/** Wraps the global setImmediate (once, before Dawn schedules anything). */
export function installDawnPump(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.setImmediate;
  const wrapped = (callback: (...args: unknown[]) => void, ...args: unknown[]) => {
    if (args.length > 0 || !isNative(callback)) return original(callback, ...args);
    let ran = false;
    const once: Tick = () => {
      if (ran) return;
      ran = true;
      scheduled.delete(once);
      callback();
    };
    scheduled.add(once);
    return original(once);
  };
  // Keeps setImmediate.__promisify__ and the like.
  globalThis.setImmediate = Object.assign(wrapped, original) as typeof setImmediate;
}

/**
 * Runs Dawn's scheduled event processing now; false when nothing was scheduled (then no GPU
 * callback can arrive without the event loop).
 */
export function pumpDawn(): boolean {
  if (scheduled.size === 0) return false;
  for (const tick of [...scheduled]) tick();
  return true;
}
