/**
 * Models with more parameters than this keep their AdamW moments in JS memory. Below it the
 * moments are backend tensors: the backend's vectorized kernels update them several times faster
 * than a JS loop, and their memory is small.
 */
export const JS_MOMENTS_ABOVE_PARAMETERS = 16_000_000;
