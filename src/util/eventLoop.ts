/**
 * Resolves after the event loop turns once. Long synchronous stretches on the webgpu backend in
 * Node must yield now and then: Node runs the finalizers of native objects collected by the garbage
 * collector (Dawn's GPU objects: bind groups, command buffers, buffers) from the event loop, so
 * without a turn they pile up (train-rm grew past 2 GB; see docs/webgpu.md).
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
