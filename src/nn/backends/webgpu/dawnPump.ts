/**
 * Synchronous progress for Dawn in Node. dawn.node delivers GPU callbacks (a buffer mapped for
 * reading, ...) from a function it schedules with the global `setImmediate` while a task waits, so
 * they run only when the event loop turns. TF.js's `dataSync()` must wait for a read without
 * returning to the event loop: this module wraps `setImmediate` so that Dawn's scheduled function
 * can also be called directly, and `pumpDawnUntil()` calls it. Each scheduled function runs at most once
 * (directly or from the event loop), as Dawn expects. No TF.js here.
 */

type Tick = () => void;

const scheduled = new Set<Tick>();
let installed = false;
/** True while a synchronous wait pumps: Dawn's rescheduling then goes to `scheduled` only. */
let pumping = false;
let originalSetImmediate: typeof setImmediate = globalThis.setImmediate;

/** Whether a function is native (dawn.node's tick is made with Napi::Function::New). */
function isNative(fn: unknown): fn is Tick {
  return typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');
}

/** Runs what is scheduled now (each tick once). */
function runScheduled(): void {
  for (const tick of [...scheduled]) tick();
}

/** Wraps the global setImmediate (once, before Dawn schedules anything). */
export function installDawnPump(): void {
  if (installed) return;
  installed = true;
  const original = globalThis.setImmediate;
  originalSetImmediate = original;
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
    // While pumping, the loop below runs it: queueing one immediate per spin would pile up
    // thousands of them in a long synchronous stretch (a training loop that never yields).
    if (pumping) return undefined;
    return original(once);
  };
  // Keeps setImmediate.__promisify__ and the like.
  globalThis.setImmediate = Object.assign(wrapped, original) as typeof setImmediate;
}

/** Spins of the pump before it sleeps between them, and the sleeps' range (ms). */
const SPINS_BEFORE_SLEEP = 20;
const MIN_SLEEP_MS = 0.05;
const MAX_SLEEP_MS = 1;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs Dawn's scheduled event processing until `done()` holds. Throws `stalled()` when nothing is
 * scheduled (then no GPU callback can arrive without the event loop) and `late()` after
 * `timeoutMs`. What is still scheduled afterwards goes back to the event loop as one immediate.
 */
export function pumpDawnUntil(
  done: () => boolean,
  timeoutMs: number,
  errors: { stalled: () => Error; late: () => Error; failed: () => Error | undefined },
): void {
  const deadline = performance.now() + timeoutMs;
  let spins = 0;
  let sleepMs = MIN_SLEEP_MS;
  pumping = true;
  try {
    while (!done()) {
      const failure = errors.failed();
      if (failure !== undefined) throw failure;
      if (scheduled.size === 0) throw errors.stalled();
      runScheduled();
      if (performance.now() > deadline) throw errors.late();
      if (++spins > SPINS_BEFORE_SLEEP) {
        // The GPU is still busy: sleep a little instead of spinning, so that a software adapter's
        // shader threads get the CPU core this thread would take.
        Atomics.wait(sleeper, 0, 0, sleepMs);
        sleepMs = Math.min(sleepMs * 2, MAX_SLEEP_MS);
      }
    }
  } finally {
    pumping = false;
    if (scheduled.size > 0) originalSetImmediate(runScheduled);
  }
}
