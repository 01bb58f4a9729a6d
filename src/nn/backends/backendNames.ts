/**
 * The backends grpovi runs on: `wasm` (TF.js's XNNPACK kernels), `blas` (the wasm backend with its
 * matrix products through the system's CBLAS), `webgpu` (TF.js's WebGPU backend: a GPU through
 * Dawn in Node, the browser's WebGPU in a page) and `cpu` (pure JS, the fallback); `auto` picks
 * `webgpu` for a real (not software) GPU adapter, else `blas` when a CBLAS library loads, else
 * `wasm`. Apart from src/nn/backends/backend.ts (which loads TF.js) so that the CLI can offer the
 * names cheaply.
 */
export type BackendName = 'auto' | 'wasm' | 'blas' | 'webgpu' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['auto', 'wasm', 'blas', 'webgpu', 'cpu'];

/** The backend of every command that runs a model and of the training config, unless one is named. */
export const DEFAULT_BACKEND: BackendName = 'auto';

/** What actually runs once `auto` is resolved. */
export type ActiveBackend = Exclude<BackendName, 'auto'>;
