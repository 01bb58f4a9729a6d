/**
 * The backends the tests run on. `GRPOVI_TEST_BACKEND` picks the one for the whole suite (default
 * `auto`: BLAS when a CBLAS library loads, as for users); suites that must pass on both product
 * paths iterate `PRODUCT_PATHS`, whose BLAS entry says why it is skipped on a machine without one.
 */
import { cblasSearch } from '../src/nn/backends/backend.js';
import { BACKENDS, type BackendName } from '../src/nn/backends/backendNames.js';

function testBackend(): BackendName {
  const chosen = process.env.GRPOVI_TEST_BACKEND ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(chosen))
    throw new Error(
      `GRPOVI_TEST_BACKEND must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(chosen)}`,
    );
  return chosen as BackendName;
}

export const TEST_BACKEND = testBackend();

const search = cblasSearch();
export const BLAS_AVAILABLE = search.library !== null;
// CI installs OpenBLAS and sets this, so that a broken library search fails instead of skipping.
if (process.env.GRPOVI_REQUIRE_BLAS === '1' && !BLAS_AVAILABLE) {
  throw new Error(
    `GRPOVI_REQUIRE_BLAS=1 but no CBLAS library loaded: ${search.failures.map((f) => `${f.name} (${f.reason})`).join('; ')}`,
  );
}
export const BLAS_SKIPPED = BLAS_AVAILABLE
  ? ''
  : ` (skipped: no CBLAS library loaded: ${search.failures.map((f) => f.name).join(', ')})`;

export interface ProductPath {
  backend: 'wasm' | 'blas';
  /** A suffix for test names: why the path is skipped, or empty. */
  note: string;
  skip: boolean;
}

export const PRODUCT_PATHS: ProductPath[] = [
  { backend: 'wasm', note: '', skip: false },
  { backend: 'blas', note: BLAS_SKIPPED, skip: !BLAS_AVAILABLE },
];
