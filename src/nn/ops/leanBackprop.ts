/**
 * Frees what TF.js's backward pass no longer needs as it goes. TF.js keeps, until the whole
 * backward pass ends, every tensor each recorded op saved for its gradient and every intermediate
 * gradient (the `dy` of each op's outputs), so its peak holds all activations and all of their
 * gradients at once: at SmolLM2-135M's shape a GRPO update grew the heap by about 1 GB above the
 * activations for that alone. Once an op's gradients by its inputs are computed, neither its saved
 * tensors nor its outputs' gradients are read again (the tape runs in reverse order, and an output's
 * gradient is complete before its op runs), so they are disposed at that point.
 *
 * Installed on TF.js's engine when this module is first imported, by wrapping each tape node's
 * gradient function as it is recorded; `setLeanBackprop(false)` records nodes as TF.js does. The
 * values computed are the same (the same kernels in the same order); only their lifetimes change.
 * Not for higher-order gradients (nothing in grpovi takes them) nor for a caller-supplied `dy` to
 * `tf.grads` (it would be disposed after use; nothing in grpovi passes one).
 */
import * as tf from '@tensorflow/tfjs';

/** The part of a TF.js tape node this module touches. */
interface TapeNode {
  inputs: Record<string, tf.Tensor>;
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  addTapeNode: (...args: unknown[]) => void;
  state: { activeTape: TapeNode[] | null };
}

let lean = true;

/**
 * How many gradient slots each tensor handed on as an input's gradient fills (a gradient function
 * may pass its `dy` on as it is, or hand one tensor to two inputs): a `dy` is disposed only when it
 * fills no other slot.
 */
const slots = new WeakMap<tf.Tensor, number>();

/** Turns the early freeing on or off (on by default); returns the previous setting. */
export function setLeanBackprop(on: boolean): boolean {
  const previous = lean;
  lean = on;
  return previous;
}

/**
 * The node's gradient function, wrapped so that once the gradient by every input on the
 * differentiated path has been taken (`this.inputs` is the pruned node's), the node's saved tensors
 * and its outputs' gradients are disposed, except a tensor handed on as an input's gradient.
 */
function leanGradient(node: TapeNode): TapeNode['gradient'] {
  const original = node.gradient;
  if (original === undefined) return undefined;
  const saved = node.saved ?? [];
  return function (this: TapeNode, dys: (tf.Tensor | null)[]) {
    const grads = original(dys);
    const pending = new Set(Object.keys(this.inputs));
    const release = () => {
      for (const dy of dys) {
        if (dy === null) continue;
        const filled = slots.get(dy) ?? 0;
        if (filled > 1) slots.set(dy, filled - 1);
        else {
          slots.delete(dy);
          dy.dispose();
        }
      }
      for (const t of saved) if (!slots.has(t)) t.dispose();
    };
    const wrapped: Record<string, () => tf.Tensor> = {};
    for (const [name, gradient] of Object.entries(grads)) {
      wrapped[name] = () => {
        const dx = gradient();
        slots.set(dx, (slots.get(dx) ?? 0) + 1);
        pending.delete(name);
        if (pending.size === 0) release();
        return dx;
      };
    }
    return wrapped;
  };
}

function install(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  const record = engine.addTapeNode;
  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]) {
    record.apply(this, args);
    const tape = this.state.activeTape;
    if (!lean || tape === null || tape.length === 0) return;
    const node = tape[tape.length - 1];
    node.gradient = leanGradient(node);
  };
}

install();
