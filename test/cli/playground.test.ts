import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from './cliBin.js';

/** Starts `grpovi playground ...args` and resolves with the URL it prints, and a way to stop it. */
function startCli(
  args: string[],
): Promise<{ url: string; stop: () => Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI_BIN, 'playground', ...args]);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^playground: (http:\/\/\S+\/) \(Ctrl-C to stop\)$/m.exec(stdout);
      if (match)
        resolve({
          url: match[1],
          stderr: () => stderr,
          stop: () => {
            const exited = new Promise<number | null>((done) => child.on('exit', done));
            child.kill('SIGINT');
            return exited;
          },
        });
    });
    child.on('exit', (code) => reject(new Error(`playground exited with ${code}: ${stdout} ${stderr}`)));
  });
}

describe('grpovi playground', () => {
  it('prints its 127.0.0.1 URL with --port 0, serves the page and nothing else, and stops on SIGINT', async () => {
    const running = await startCli(['--port', '0']);
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(running.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>grpovi playground</title>');
    expect((await fetch(new URL('/playground.js', running.url))).status).toBe(200);
    expect((await fetch(new URL('/vendor/vega.min.js', running.url))).status).toBe(200);
    expect((await fetch(new URL('/api/state', running.url))).status).toBe(404);
    expect((await fetch(new URL('/package.json', running.url))).status).toBe(404);
    // The build (npm test builds first) writes the browser bundle; the server serves it.
    expect((await fetch(new URL('/grpovi/grpovi.js', running.url))).status).toBe(200);
    const wasm = await fetch(new URL('/grpovi/tfjs-backend-wasm-simd.wasm', running.url));
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(running.stderr()).toBe('');
    expect(await running.stop()).toBe(0);
  });

  it('binds the address --host names', async () => {
    const running = await startCli(['--port', '0', '--host', 'localhost']);
    expect(running.url).toMatch(/^http:\/\/localhost:\d+\/$/);
    expect((await fetch(running.url)).status).toBe(200);
    expect(await running.stop()).toBe(0);
  });

  it('exits 2 with one line on a bad flag, a port in use or an address not on this machine', async () => {
    const busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    const busyPort = (busy.address() as AddressInfo).port;
    try {
      const cases: [string[], RegExp][] = [
        [['--port', 'abc'], /option '--port <n>' argument 'abc' is invalid/],
        [['--port', '-1'], /--port <n>' argument '-1' is invalid/],
        [['--port', '70000'], /--port must be at most 65535 \(70000\)/],
        [
          ['--port', String(busyPort)],
          new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}: the port is in use`),
        ],
        [
          ['--host', '203.0.113.7', '--port', '0'],
          /cannot listen on 203\.0\.113\.7:0: no such address on this machine/,
        ],
        [['--bogus'], /unknown option '--bogus'/],
        [['extra'], /too many arguments/],
      ];
      for (const [args, message] of cases) {
        const result = await runCli(['playground', ...args]);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr, args.join(' ')).toMatch(message);
        expect(result.stderr.split('\n')[0], args.join(' ')).toMatch(message);
        expect(result.stdout).toBe('');
      }
    } finally {
      busy.close();
    }
  });
});
