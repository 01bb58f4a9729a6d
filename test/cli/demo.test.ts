import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../train/helpers.js';
import { CLI_BIN, type ProcessRun, runCli } from './cliBin.js';

// End-to-end on the built CLI (run `npm run build` before this file alone): `grpovi demo` with a
// couple of steps, one seed, on the wasm backend. What the full demo measures is in
// docs/commands-notes.md; here, that it runs both settings and says which is which.

let dir = '';
let cleanup = () => {};
let demo: ProcessRun;
beforeAll(async () => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  ({ dir, cleanup } = tempDir('demo-cli'));
  demo = await runCli(
    ['demo', '--out', join(dir, 'demo'), '--steps', '2', '--seeds', '1', '--jobs', '2', '--backend', 'wasm'],
    { cwd: dir },
  );
}, 600_000);
afterAll(() => cleanup());

describe('grpovi demo (2 steps, 1 seed)', () => {
  it('prints both settings with GRPO and GRPOVI, then one sentence per setting', () => {
    expect(demo.code, demo.stderr).toBe(0);
    for (const setting of ['none', 'group'])
      for (const algo of ['grpo', 'grpovi'])
        expect(demo.stdout).toMatch(new RegExp(`^\\| scale_rewards=${setting} \\| ${algo} \\| 1 \\|`, 'm'));
    const section = demo.stdout.slice(demo.stdout.indexOf('## What the demo shows'));
    expect(section).toMatch(
      /^- scale_rewards=none \(the paper's premise: .*reward temperature 10, .*: (GRPOVI wins|GRPO wins|no clear difference) here\.$/m,
    );
    expect(section).toMatch(/^- scale_rewards=group \(GRPO's default: the group std scale.*here\.$/m);
    expect(demo.stdout).toContain(`report: ${join(dir, 'demo', 'report.md')}`);
  });

  it('writes the same sentences into report.md and runs on the backend asked for', () => {
    const report = readFileSync(join(dir, 'demo', 'report.md'), 'utf8');
    const sentences = demo.stdout.split('\n').filter((line) => line.startsWith('- scale_rewards='));
    expect(sentences).toHaveLength(2);
    for (const sentence of sentences) expect(report).toContain(sentence);
    const summary = JSON.parse(readFileSync(join(dir, 'demo', 'summary.json'), 'utf8')) as {
      settings: { algorithms: Record<string, { runs: { backend: string }[] }> }[];
    };
    const backends = summary.settings.flatMap((s) =>
      Object.values(s.algorithms).flatMap((a) => a.runs.map((r) => r.backend)),
    );
    expect(backends).toEqual(['wasm', 'wasm', 'wasm', 'wasm']);
    const record = JSON.parse(readFileSync(join(dir, 'demo', 'comparison.json'), 'utf8')) as {
      base_config: Record<string, unknown>;
      command: string;
    };
    expect(record.base_config).toMatchObject({ reward_temperature: 10, learning_rate: 0.01, beta: 0.04 });
    expect(record.command).toContain('--backend wasm');
  });
});
