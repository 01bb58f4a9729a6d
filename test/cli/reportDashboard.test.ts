import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DashboardState } from '../../src/dashboard/state.js';
import { writeFixtureRun } from '../experiments/runFixture.js';
import { CLI_BIN, runCli } from './cliBin.js';

// The built CLI (`npm test` builds dist first) on a run folder in the trainer's format.
let root = '';
beforeAll(() => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  root = mkdtempSync(join(tmpdir(), 'grpovi-cli-report-'));
  writeFixtureRun(join(root, 'run'), { algo: 'grpovi', steps: 4, evalEvery: 2 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('grpovi report RUN', () => {
  it('writes the run report and says where', async () => {
    const result = await runCli(['report', join(root, 'run')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`report: ${join(root, 'run', 'report.md')}`);
    expect(result.stdout).toContain('run finished at step 4');
    expect(readFileSync(join(root, 'run', 'report.md'), 'utf8')).toContain('# GRPOVI on toy, seed 0');
    expect(existsSync(join(root, 'run', 'plots', 'kl.svg'))).toBe(true);
  });

  it('refuses a folder that holds neither a comparison nor a run, naming it', async () => {
    const result = await runCli(['report', join(root, 'nothing')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `"${join(root, 'nothing')}" holds no comparison (comparison.json not found)`,
    );
    expect(result.stderr).toContain('no training run (config.json or metrics.jsonl not found)');
  });
});

describe('grpovi dashboard', () => {
  it('prints its 127.0.0.1 URL with --port 0, serves the runs, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, [CLI_BIN, 'dashboard', root, '--port', '0']);
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (match) resolve(match[1]);
      });
      child.on('exit', (code) => reject(new Error(`dashboard exited with ${code}: ${stdout}`)));
    });
    const state = (await (await fetch(new URL('/api/state', url))).json()) as DashboardState;
    expect(state.runs.map((r) => [r.id, r.step, r.state])).toEqual([['run', 4, 'finished']]);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('refuses a folder that does not exist', async () => {
    const result = await runCli(['dashboard', join(root, 'missing')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`"${join(root, 'missing')}" is not a folder`);
  });
});
