/**
 * The machine's single-core fp32 peak, measured in the benchmark's own run two ways:
 * - `fmaPeak`: a native loop of ten independent chains of fused multiply-adds on the widest vectors the compiler
 *   targets with -march=native (AVX-512, AVX2 or NEON), compiled with the system's C compiler at run
 *   time: the hardware ceiling. Absent when no compiler is installed.
 * - `sgemmPeak`: the CBLAS library's own large square sgemm (2048^3) on one thread: the practical
 *   ceiling for matrix products on this machine.
 * Times are process CPU time (best of several runs), so other jobs on a shared machine cost less.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CblasLibrary } from '../src/nn/backends/blas/cblasLibrary.js';
import { CBLAS_NO_TRANS, CBLAS_ROW_MAJOR } from '../src/nn/backends/blas/cblasLibrary.js';

// Ten independent chains in registers (an array would go through memory and stall on it).
const FMA_SOURCE = String.raw`
#include <stdio.h>
#include <time.h>
#if defined(__AVX512F__)
#define BYTES 64
#elif defined(__AVX__)
#define BYTES 32
#else
#define BYTES 16
#endif
typedef float vec __attribute__((vector_size(BYTES)));
#define STEP(x) x = x * a + b;
int main(int argc, char **argv) {
  long iterations = 50000000;
  vec a, b;
  for (int k = 0; k < BYTES / 4; k++) { a[k] = 0.999999f; b[k] = 1e-7f * (argc + k); }
  vec x0 = b, x1 = b * 2, x2 = b * 3, x3 = b * 4, x4 = b * 5, x5 = b * 6, x6 = b * 7, x7 = b * 8, x8 = b * 9, x9 = b * 10;
  double best = 1e30;
  for (int run = 0; run < 5; run++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (long i = 0; i < iterations; i++) {
      STEP(x0) STEP(x1) STEP(x2) STEP(x3) STEP(x4) STEP(x5) STEP(x6) STEP(x7) STEP(x8) STEP(x9)
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    if (s < best) best = s;
  }
  vec sum = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9;
  float sink = 0;
  for (int k = 0; k < BYTES / 4; k++) sink += sum[k];
  printf("%f %d %g\n", 2.0 * iterations * 10 * (BYTES / 4) / best, BYTES * 8, sink);
  return 0;
}
`;

export interface FmaPeak {
  flops: number;
  vectorBits: number;
  compiler: string;
}

/** The FMA loop's FLOP/s, or the reason it could not run. */
export function fmaPeak(): FmaPeak | string {
  const dir = mkdtempSync(join(tmpdir(), 'grpovi-peak-'));
  try {
    writeFileSync(join(dir, 'fma.c'), FMA_SOURCE);
    for (const compiler of ['cc', 'gcc', 'clang']) {
      try {
        execFileSync(
          compiler,
          ['-O2', '-march=native', '-ffp-contract=fast', '-o', join(dir, 'fma'), join(dir, 'fma.c')],
          {
            stdio: 'pipe',
          },
        );
      } catch {
        continue;
      }
      const [flops, bits] = execFileSync(join(dir, 'fma'), { encoding: 'utf8' })
        .trim()
        .split(' ')
        .map(Number);
      return { flops, vectorBits: bits, compiler };
    }
    return 'no C compiler (cc, gcc, clang) on PATH';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU seconds of `work`, best of `runs`. */
export function bestCpuSeconds(work: () => void, runs: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const began = process.cpuUsage();
    work();
    const used = process.cpuUsage(began);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  return best;
}

/** The library's 2048^3 sgemm FLOP/s on one thread (the caller restores its thread count). */
export function sgemmPeak(lib: CblasLibrary): number {
  const n = 2048;
  const a = new Float32Array(n * n).fill(0.5);
  const b = new Float32Array(n * n).fill(0.25);
  const c = new Float32Array(n * n);
  lib.setThreads(1);
  const run = () =>
    lib.sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, n, n, n, 1, a, n, b, n, 0, c, n);
  run();
  return (2 * n * n * n) / bestCpuSeconds(run, 4);
}
