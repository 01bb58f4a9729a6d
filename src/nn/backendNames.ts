/**
 * The TF.js backends grpovi runs on: `wasm` (XNNPACK, fast) and `cpu` (pure JS, the fallback).
 * Apart from src/nn/backend.ts (which loads TF.js) so that the CLI can offer the names cheaply.
 */
export type BackendName = 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['wasm', 'cpu'];
