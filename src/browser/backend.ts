import * as tf from '@tensorflow/tfjs';
import { activateBackend } from '../nn/backends/activateBackend.js';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { readAdapterInfo } from '../nn/backends/webgpu/adapterInfo.js';
import { installWebgpuKernels } from '../nn/backends/webgpu/webgpuKernels.js';

/**
 * The browser's backend entry: WebGPU when the browser gives an adapter, else wasm (without the
 * Node-only BLAS path; the selection in nn/backends/backend.ts loads native libraries and is not
 * bundled). Also runs in Node, where it gives wasm (or WebGPU where `navigator.gpu` exists).
 */

export type BackendChoice = 'webgpu' | 'wasm' | 'auto';

/** What a WebGPU adapter says about itself. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  /** A fallback (software) adapter. */
  fallback: boolean;
}

/** The backend in use. */
export interface BackendInUse {
  name: 'webgpu' | 'wasm' | 'cpu';
  adapter?: AdapterDescription;
}

export interface BackendOptions {
  /** URL of the folder holding tfjs-backend-wasm's `.wasm` binaries (ending in `/`); default: beside the bundle. */
  wasmPath?: string;
}

/** The one-line refusal of a backend this browser cannot give. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

function navigatorGpu(): GpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  return nav?.gpu;
}

async function findAdapter(): Promise<AdapterDescription | undefined> {
  const gpu = navigatorGpu();
  if (gpu === undefined) return undefined;
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    return undefined;
  }
  if (adapter === null) return undefined;
  // The same reading as in Node: a software adapter (SwiftShader, ...) counts as a fallback one.
  const { vendor, architecture, description, fallback } = readAdapterInfo(
    adapter.info ?? {},
    adapter.isFallbackAdapter,
  );
  return { vendor, architecture, description, fallback };
}

/** Whether this code runs in Node (where tfjs-backend-wasm finds its binaries itself). */
function inNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

let wasmPathSet = false;

function configureWasm(options: BackendOptions): void {
  if (wasmPathSet || tf.engine().registryFactory.wasm === undefined) return;
  // Set once, before the wasm backend first starts (it fetches its binaries then).
  const path = options.wasmPath ?? (inNode() ? undefined : new URL('./', import.meta.url).href);
  if (path !== undefined) setWasmPaths(path.endsWith('/') ? path : `${path}/`);
  wasmPathSet = true;
}

/**
 * Activates a backend: `webgpu` (an error when the browser has no adapter), `wasm` (falling back to
 * the pure-JS cpu backend when wasm cannot start), or `auto`: WebGPU when an adapter is there, else
 * wasm. Resolves to the backend in use and the adapter behind WebGPU.
 */
export async function useBackend(
  choice: BackendChoice = 'auto',
  options: BackendOptions = {},
): Promise<BackendInUse> {
  if (choice !== 'webgpu' && choice !== 'wasm' && choice !== 'auto')
    throw new BackendUnavailableError(
      `backend must be "webgpu", "wasm" or "auto" (${JSON.stringify(choice)})`,
    );
  tf.env().set('PROD', true);
  if (choice !== 'wasm') {
    const adapter = await findAdapter();
    if (adapter !== undefined) {
      // Small ops would otherwise silently run on the CPU.
      tf.env().set('WEBGPU_CPU_FORWARD', false);
      // grpovi's kernels for the webgpu backend, as the Node selection installs them (sums of more
      // inputs than a shader's storage buffers, products that give the same bits on every run).
      installWebgpuKernels(adapter.fallback);
      if (await activateBackend('webgpu')) return { name: 'webgpu', adapter };
    }
    if (choice === 'webgpu')
      throw new BackendUnavailableError(
        adapter === undefined
          ? 'backend "webgpu": this browser gives no WebGPU adapter (navigator.gpu is missing or returned none)'
          : `backend "webgpu": the adapter ${adapter.description || adapter.vendor} did not start`,
      );
  }
  configureWasm(options);
  if (await activateBackend('wasm')) return { name: 'wasm' };
  await activateBackend('cpu');
  return { name: 'cpu' };
}
