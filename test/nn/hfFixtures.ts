import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Hugging Face fixtures: tiny seeded-random folders written by scripts/hf-fixtures/make_fixtures.py
 * and the NumPy reference (scripts/hf-fixtures/reference.py) that computes their logits, greedy
 * continuations and classifier scores independently of grpovi. Both need a Python with NumPy:
 * Debian's /usr/bin/python3 with python3-numpy (the pyenv python3 on PATH has none).
 */
const SCRIPTS = fileURLToPath(new URL('../../scripts/hf-fixtures/', import.meta.url));

function findNumpyPython(): string | undefined {
  for (const candidate of [process.env.GRPOVI_NUMPY_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['-c', 'import numpy'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

export const PYTHON = findNumpyPython();
/** Why the fixture tests are skipped, for the skip message. */
export const SKIP_REASON =
  'needs a Python with NumPy (Debian: apt-get install python3-numpy; or set GRPOVI_NUMPY_PYTHON)';
if (PYTHON === undefined) console.warn(`Hugging Face fixture tests skipped: ${SKIP_REASON}`);

/** Writes the fixture folders into a fresh temporary folder; returns it and a cleanup. */
export function makeFixtures(only?: string[]): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'grpovi-hf-'));
  execFileSync(
    PYTHON as string,
    [join(SCRIPTS, 'make_fixtures.py'), '--out', root, ...(only ? ['--only', ...only] : [])],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface ReferenceResult {
  greedy?: number[][];
  scores?: number[][];
  /** Logits of every prompt position, prompts one after another, [positions, vocab]. */
  logits?: Float32Array;
}

/** Runs the NumPy reference on a folder. */
export function reference(
  folder: string,
  prompts: number[][],
  newTokens = 8,
  withLogits = false,
): ReferenceResult {
  const logitsPath = join(folder, '..', `.${Date.now()}-${Math.random().toString(36).slice(2)}.f32`);
  const args = [
    join(SCRIPTS, 'reference.py'),
    folder,
    '--prompts',
    JSON.stringify(prompts),
    '--new-tokens',
    String(newTokens),
  ];
  if (withLogits) args.push('--logits', logitsPath);
  const out = JSON.parse(execFileSync(PYTHON as string, args, { encoding: 'utf8' })) as ReferenceResult;
  if (withLogits) {
    const bytes = readFileSync(logitsPath);
    out.logits = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    rmSync(logitsPath);
  }
  return out;
}
