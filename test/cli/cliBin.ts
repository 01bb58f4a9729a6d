import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The built CLI the end-to-end tests run: dist/cli/bin.js (`npm test` builds it first), or
 * GRPOVI_CLI_BIN, e.g. a build made with `tsc -p tsconfig.build.json --outDir ...` elsewhere.
 */
export const CLI_BIN = process.env.GRPOVI_CLI_BIN ?? join(ROOT, 'dist', 'cli', 'bin.js');

/** What a finished child process left: its exit code and everything it printed. */
export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ...args`, feeding `input` (default: nothing) to its stdin, and collects its output. */
export function runNode(
  args: readonly string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the built CLI with `args`. */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessRun> {
  return runNode([CLI_BIN, ...args], options);
}
