/**
 * Finds and opens the system's CBLAS (OpenBLAS, BLIS, MKL, a generic libcblas, or Accelerate on
 * macOS) through koffi, the FFI whose prebuilt binary arrives with its npm package. Nothing here
 * touches tensors: it hands out `cblas_sgemm`, `cblas_sdot` and the library's thread setting.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename } from 'node:path';

export { CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS } from './cblasConstants.js';

/** `cblas_sgemm` in row-major form: C = alpha op(A) op(B) + beta C. */
export type Sgemm = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/**
 * The same `cblas_sgemm` taking byte addresses for A, B and C (e.g. `addressOf(heap) + offset`):
 * no typed-array view per call, which for attention's many tiny products is about half the call's cost.
 */
export type SgemmAt = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  beta: number,
  c: number,
  ldc: number,
) => void;

/** `cblas_sdot` on byte addresses: sum of x[i * incX] * y[i * incY] for i < n. */
export type SdotAt = (n: number, x: number, incX: number, y: number, incY: number) => number;

export interface CblasLibrary {
  /** The name it was opened by, e.g. `libopenblas.so.0`. */
  name: string;
  /** The file the dynamic loader mapped, where the platform tells (Linux), else the name. */
  path: string;
  /** `openblas_get_config()` and the like, when the library says what it is. */
  description: string;
  sgemm: Sgemm;
  sgemmAt: SgemmAt;
  sdotAt: SdotAt;
  /** The address of an ArrayBuffer's first byte (e.g. the wasm heap), for `sgemmAt`. */
  addressOf: (buffer: ArrayBufferLike) => number;
  /** Sets the library's thread count; false when it has no such call (e.g. Accelerate). */
  setThreads: (threads: number) => boolean;
}

/** Names tried in order: the dynamic loader's search path resolves bare names. */
export function defaultCandidates(platform: NodeJS.Platform = process.platform): string[] {
  if (platform === 'darwin') {
    return [
      '/System/Library/Frameworks/Accelerate.framework/Accelerate',
      '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
      '/usr/local/opt/openblas/lib/libopenblas.dylib',
      'libopenblas.dylib',
    ];
  }
  if (platform === 'win32') return ['libopenblas.dll', 'openblas.dll', 'mkl_rt.2.dll', 'mkl_rt.dll'];
  return [
    'libopenblas.so.0',
    'libopenblas.so',
    'libopenblasp.so.0',
    'libblis.so.4',
    'libblis.so',
    'libmkl_rt.so.2',
    'libmkl_rt.so',
    // Debian's alternatives link: with OpenBLAS, BLIS or ATLAS installed it also exports the cblas_ names.
    'libblas.so.3',
    'libcblas.so.3',
    'libcblas.so',
  ];
}

/** The subset of koffi's API used here (its own types are CommonJS declarations). */
interface KoffiLibrary {
  func(signature: string): (...args: unknown[]) => unknown;
}
interface Koffi {
  load(path: string): KoffiLibrary;
  address(value: unknown): bigint;
}

let koffiModule: Koffi | null | undefined;
let koffiProblem = '';

/** koffi, or null when its native binary is missing (e.g. an unsupported platform). */
function loadKoffi(): Koffi | null {
  if (koffiModule !== undefined) return koffiModule;
  try {
    koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (error) {
    koffiProblem = error instanceof Error ? error.message.split('\n')[0] : String(error);
    koffiModule = null;
  }
  return koffiModule;
}

/** The file a library was mapped from, read from /proc/self/maps (Linux only). */
function mappedPath(name: string): string {
  try {
    const wanted = basename(name);
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const file = line.slice(line.indexOf('/'));
      if (line.includes('/') && basename(file).startsWith(wanted)) return file;
    }
  } catch {
    // not Linux
  }
  return name;
}

function optionalFunc(lib: KoffiLibrary, signature: string): ((...args: unknown[]) => unknown) | undefined {
  try {
    return lib.func(signature);
  } catch {
    return undefined;
  }
}

/** Opens one candidate; throws with the loader's reason when it is absent or lacks cblas_sgemm. */
function open(koffi: Koffi, name: string): CblasLibrary {
  const lib = koffi.load(name);
  const sgemm = lib.func(
    'void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int)',
  ) as unknown as Sgemm;
  // intptr_t: koffi passes a JS number straight through as the pointer value.
  const sgemmAt = lib.func(
    'void cblas_sgemm(int, int, int, int, int, int, float, intptr_t, int, intptr_t, int, float, intptr_t, int)',
  ) as unknown as SgemmAt;
  const sdotAt = lib.func('float cblas_sdot(int, intptr_t, int, intptr_t, int)') as unknown as SdotAt;
  const addressOf = (buffer: ArrayBufferLike): number => Number(koffi.address(buffer));
  const openblasThreads = optionalFunc(lib, 'void openblas_set_num_threads(int)');
  const blisThreads = optionalFunc(lib, 'void bli_thread_set_num_threads(int64_t)');
  const mklThreads = optionalFunc(lib, 'void MKL_Set_Num_Threads(int)');
  const config = optionalFunc(lib, 'const char *openblas_get_config()');
  const setThreads = (threads: number): boolean => {
    if (openblasThreads) openblasThreads(threads);
    else if (blisThreads) blisThreads(threads);
    else if (mklThreads) mklThreads(threads);
    else return false;
    return true;
  };
  const description = config ? String(config()) : '';
  return { name, path: mappedPath(name), description, sgemm, sgemmAt, sdotAt, addressOf, setThreads };
}

export interface CblasSearch {
  library: CblasLibrary | null;
  /** Why each candidate tried before the one found (or all of them) did not load. */
  failures: { name: string; reason: string }[];
}

/**
 * The first candidate that loads and exports `cblas_sgemm`. `GRPOVI_BLAS_LIBRARY` (a path or name)
 * goes first when set, so a user can point at a library outside the loader's search path.
 */
export function findCblas(candidates: readonly string[] = defaultCandidates()): CblasSearch {
  const failures: { name: string; reason: string }[] = [];
  const koffi = loadKoffi();
  if (koffi === null) {
    return { library: null, failures: [{ name: 'koffi', reason: `the FFI did not load: ${koffiProblem}` }] };
  }
  for (const name of candidates) {
    try {
      return { library: open(koffi, name), failures };
    } catch (error) {
      failures.push({ name, reason: error instanceof Error ? error.message.split('\n')[0] : String(error) });
    }
  }
  return { library: null, failures };
}

/** The candidates for this process: `GRPOVI_BLAS_LIBRARY` first when set, then the platform's list. */
export function processCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const chosen = env.GRPOVI_BLAS_LIBRARY?.trim();
  return chosen ? [chosen, ...defaultCandidates()] : defaultCandidates();
}
