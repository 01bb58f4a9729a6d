import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { activateBackend } from './activateBackend.js';
import '@tensorflow/tfjs-backend-wasm';
import {
  installBlasKernels,
  installedBlas,
  setFusedKernels,
  uninstallBlasKernels,
} from './blas/blasKernels.js';
import { type CblasLibrary, type CblasSearch, findCblas, processCandidates } from './blas/cblasLibrary.js';
import type { ActiveBackend, BackendName } from './backendNames.js';
import { BackendError } from './backendError.js';
import { type WebgpuAdapterInfo, adapterLine } from './webgpu/adapterInfo.js';
import { probeAdapterInChild } from './webgpu/probe.js';
import { activateWebgpu, webgpuAdapter } from './webgpu/webgpuBackend.js';

export { type ActiveBackend, BACKENDS, type BackendName } from './backendNames.js';
export { BackendError } from './backendError.js';
export { releaseWebgpu } from './webgpu/webgpuBackend.js';

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

let search: CblasSearch | undefined;

/** The system's CBLAS, searched for once per process. */
export function cblasSearch(): CblasSearch {
  search ??= findCblas(processCandidates());
  return search;
}

/**
 * BLAS threads: an explicit count, else `GRPOVI_BLAS_THREADS` (set to 1 for the runs of
 * `compare --jobs N` with N > 1, which already share the cores), else every core.
 */
export function blasThreadCount(requested?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (requested !== undefined) return requested;
  const fromEnv = Number.parseInt(env.GRPOVI_BLAS_THREADS ?? '', 10);
  return Number.isInteger(fromEnv) && fromEnv >= 1 ? fromEnv : availableParallelism();
}

export interface SelectOptions {
  /** BLAS threads (see `blasThreadCount`). */
  blasThreads?: number;
}

/** The library a search found, or an error naming every candidate tried and why it failed. */
export function requireBlas(found: CblasSearch): CblasLibrary {
  if (found.library !== null) return found.library;
  const tried = found.failures.map((f) => `${f.name} (${f.reason})`).join('; ');
  throw new BackendError(
    `backend "blas": no CBLAS library loaded (tried ${tried}); install one (e.g. apt-get install libopenblas0) or set GRPOVI_BLAS_LIBRARY to its path`,
  );
}

/** Why `auto` did not pick WebGPU, for the log line (undefined when it was not considered). */
let autoSkippedGpu: string | undefined;

/**
 * Activates the preferred backend and resolves to the one that actually runs. `auto` is `webgpu`
 * when a real (not fallback or software) GPU adapter is found, else `blas` when a CBLAS library
 * loads, else `wasm`; `wasm` falls back to `cpu` if it cannot start; `blas` without a library and
 * `webgpu` without an adapter are errors naming what is missing.
 */
export async function selectBackend(
  preferred: BackendName = 'auto',
  options: SelectOptions = {},
): Promise<ActiveBackend> {
  quietBanner();
  autoSkippedGpu = undefined;
  if (preferred === 'webgpu' || (preferred === 'auto' && realGpuFound())) {
    // The BLAS kernels live in the wasm backend's registry: nothing of them serves webgpu, and
    // productsThroughBlas() is false off wasm.
    uninstallBlasKernels();
    await activateWebgpu();
    return 'webgpu';
  }
  if (preferred === 'cpu') {
    uninstallBlasKernels();
    await activateBackend('cpu');
    return 'cpu';
  }
  const library =
    preferred === 'wasm' ? null : preferred === 'blas' ? requireBlas(cblasSearch()) : cblasSearch().library;
  if (!(await activateBackend('wasm'))) {
    uninstallBlasKernels();
    await activateBackend('cpu');
    return 'cpu';
  }
  if (library === null) {
    uninstallBlasKernels();
    return 'wasm';
  }
  library.setThreads(blasThreadCount(options.blasThreads));
  installBlasKernels(library);
  return 'blas';
}

/** For `auto`: whether a real GPU adapter is there (asked in a child process; see probe.ts). */
function realGpuFound(): boolean {
  if (process.env.GRPOVI_AUTO_WEBGPU === '0') {
    autoSkippedGpu = 'GRPOVI_AUTO_WEBGPU=0';
    return false;
  }
  const adapter = probeAdapterInChild();
  if (adapter === undefined) autoSkippedGpu = undefined;
  else if (adapter.fallback) autoSkippedGpu = `the WebGPU adapter ${adapterLine(adapter)} is a software one`;
  return adapter !== undefined && !adapter.fallback;
}

/** The backend in use now, if it is one of ours. */
export function currentBackend(): ActiveBackend | undefined {
  const name = tf.getBackend();
  if (name === 'wasm') return installedBlas() ? 'blas' : 'wasm';
  if (name === 'webgpu') return 'webgpu';
  return name === 'cpu' ? name : undefined;
}

export { fusedKernels, optimizerMomentsInJs, productsThroughBlas } from './kernelRoute.js';

export { setFusedKernels };

/**
 * What runs, for logs and run records: the backend, the library and threads behind `blas`, the
 * adapter behind `webgpu`.
 */
export interface BackendDescription {
  backend: ActiveBackend;
  blas_library?: string;
  blas_threads?: number;
  webgpu_adapter?: WebgpuAdapterInfo;
}

export function describeBackend(backend: ActiveBackend, options: SelectOptions = {}): BackendDescription {
  if (backend === 'webgpu') {
    const adapter = webgpuAdapter();
    return adapter === undefined ? { backend } : { backend, webgpu_adapter: adapter };
  }
  const library = installedBlas();
  if (backend !== 'blas' || library === null) return { backend };
  return { backend, blas_library: library.path, blas_threads: blasThreadCount(options.blasThreads) };
}

/** One line for the start of a run's log. */
export function backendLine(description: BackendDescription): string {
  if (description.backend === 'webgpu') {
    const adapter = description.webgpu_adapter;
    return `backend webgpu (${adapter === undefined ? 'adapter unknown' : adapterLine(adapter)})`;
  }
  if (description.backend !== 'blas') {
    const reasons = [];
    if (description.backend === 'wasm' && search?.library === null) reasons.push('no CBLAS library found');
    if (autoSkippedGpu !== undefined) reasons.push(`not webgpu: ${autoSkippedGpu}`);
    const why = reasons.length > 0 ? ` (${reasons.join('; ')})` : '';
    return `backend ${description.backend}${why}`;
  }
  return `backend blas (${description.blas_library}, ${description.blas_threads} thread(s))`;
}
