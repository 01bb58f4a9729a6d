import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  fusedKernelsActive,
  installBlasKernels,
  installedBlas,
  setFusedKernels,
  uninstallBlasKernels,
} from './blas/blasKernels.js';
import { type CblasLibrary, type CblasSearch, findCblas, processCandidates } from './blas/cblasLibrary.js';
import type { ActiveBackend, BackendName } from './backendNames.js';

export { type ActiveBackend, BACKENDS, type BackendName } from './backendNames.js';

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

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
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

async function activate(name: 'wasm' | 'cpu'): Promise<boolean> {
  if (tf.getBackend() === name) return true;
  try {
    if (await tf.setBackend(name)) {
      await tf.ready();
      return true;
    }
  } catch {
    // the caller falls back
  }
  return false;
}

/** The library a search found, or an error naming every candidate tried and why it failed. */
export function requireBlas(found: CblasSearch): CblasLibrary {
  if (found.library !== null) return found.library;
  const tried = found.failures.map((f) => `${f.name} (${f.reason})`).join('; ');
  throw new BackendError(
    `backend "blas": no CBLAS library loaded (tried ${tried}); install one (e.g. apt-get install libopenblas0) or set GRPOVI_BLAS_LIBRARY to its path`,
  );
}

/**
 * Activates the preferred backend and resolves to the one that actually runs. `auto` is `blas`
 * when a CBLAS library loads, else `wasm`; `wasm` falls back to `cpu` if it cannot start; `blas`
 * without a library is an error naming what was tried.
 */
export async function selectBackend(
  preferred: BackendName = 'auto',
  options: SelectOptions = {},
): Promise<ActiveBackend> {
  quietBanner();
  if (preferred === 'cpu') {
    uninstallBlasKernels();
    await activate('cpu');
    return 'cpu';
  }
  const library =
    preferred === 'wasm' ? null : preferred === 'blas' ? requireBlas(cblasSearch()) : cblasSearch().library;
  if (!(await activate('wasm'))) {
    uninstallBlasKernels();
    await activate('cpu');
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

/** The backend in use now, if it is one of ours. */
export function currentBackend(): ActiveBackend | undefined {
  const name = tf.getBackend();
  if (name === 'wasm') return installedBlas() ? 'blas' : 'wasm';
  return name === 'cpu' ? name : undefined;
}

/**
 * Whether products fold transposes and strided groups into sgemm: then a transposed operand costs
 * nothing and `groupedMatMul` in the token-major layout is the fast attention product.
 */
export function productsThroughBlas(): boolean {
  return tf.getBackend() === 'wasm' && installedBlas() !== null;
}

/**
 * Whether the BLAS path's fused kernels (target log-probs, heap-copy slices and concatenations) serve
 * the model code now; `setFusedKernels(false)` keeps the BLAS products only (for measurements).
 */
export function fusedKernels(): boolean {
  return productsThroughBlas() && fusedKernelsActive();
}

export { setFusedKernels };

/** What runs, for logs and run records: the backend, and the library and threads behind `blas`. */
export interface BackendDescription {
  backend: ActiveBackend;
  blas_library?: string;
  blas_threads?: number;
}

export function describeBackend(backend: ActiveBackend, options: SelectOptions = {}): BackendDescription {
  const library = installedBlas();
  if (backend !== 'blas' || library === null) return { backend };
  return { backend, blas_library: library.path, blas_threads: blasThreadCount(options.blasThreads) };
}

/** One line for the start of a run's log. */
export function backendLine(description: BackendDescription): string {
  if (description.backend !== 'blas') {
    const why = description.backend === 'wasm' && search?.library === null ? ' (no CBLAS library found)' : '';
    return `backend ${description.backend}${why}`;
  }
  return `backend blas (${description.blas_library}, ${description.blas_threads} thread(s))`;
}
