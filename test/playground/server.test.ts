import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PAGE_DIR,
  PAGE_MODULES,
  playgroundFiles,
  type RunningPlayground,
  startPlayground,
} from '../../src/playground/server.js';

// The playground's server hands out a fixed table of files and nothing else: no path is ever joined
// onto a folder, so no spelling of `..` reaches a file outside the table. Served page modules come
// from dist/ (`npm run build`, which `npm test` runs first).

interface Reply {
  status: number;
  type: string;
  body: Buffer;
}

/** A GET with the path sent exactly as written (fetch would normalize `..` and `%2e`). */
function get(
  url: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type']),
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

let bundleDir = '';
let playground: RunningPlayground;

beforeAll(async () => {
  // A stand-in bundle folder: the server serves the bundle and the wasm binaries the build writes
  // there, and nothing else of it (tsc's modules are there too, but the page needs only the bundle).
  bundleDir = mkdtempSync(join(tmpdir(), 'grpovi-playground-bundle-'));
  writeFileSync(join(bundleDir, 'grpovi.js'), 'export const x = 1;\n');
  mkdirSync(join(bundleDir, 'chunks'));
  writeFileSync(join(bundleDir, 'chunks', 'part.js'), 'export const y = 2;\n');
  writeFileSync(join(bundleDir, 'notes.txt'), 'not a served type\n');
  writeFileSync(join(bundleDir, 'index.js'), 'export * from "../nn/x.js";\n');
  writeFileSync(join(bundleDir, 'tfjs-backend-wasm.wasm'), Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0));
  playground = await startPlayground({ port: 0, bundleDir });
});

afterAll(async () => {
  await playground?.close();
  rmSync(bundleDir, { recursive: true, force: true });
});

describe('the playground server', () => {
  it('listens on 127.0.0.1 by default and knows the bundle is there', () => {
    expect(playground.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(playground.bundled).toBe(true);
  });

  it('serves the page, its modules, the bundle with its wasm binaries and vega, each with its type', async () => {
    const cases: [string, string, string][] = [
      ['/', 'text/html', join(PAGE_DIR, 'index.html')],
      ['/playground.js', 'text/javascript', join(PAGE_DIR, 'playground.js')],
      ['/playground.css', 'text/css', join(PAGE_DIR, 'playground.css')],
      ['/grpovi/grpovi.js', 'text/javascript', join(bundleDir, 'grpovi.js')],
    ];
    for (const [path, type, file] of cases) {
      const reply = await get(playground.url, path);
      expect(reply.status, path).toBe(200);
      expect(reply.type, path).toContain(type);
      expect(reply.body.equals(readFileSync(file)), path).toBe(true);
    }
    for (const module of PAGE_MODULES) {
      const reply = await get(playground.url, `/lib/${module}`);
      expect(reply.status, module).toBe(200);
      expect(reply.type).toContain('text/javascript');
    }
    const wasm = await get(playground.url, '/grpovi/tfjs-backend-wasm.wasm');
    expect(wasm.status).toBe(200);
    expect(wasm.type).toBe('application/wasm');
    expect(wasm.body.equals(readFileSync(join(bundleDir, 'tfjs-backend-wasm.wasm')))).toBe(true);
    for (const name of ['vega.min.js', 'vega-lite.min.js']) {
      const reply = await get(playground.url, `/vendor/${name}`);
      expect(reply.status, name).toBe(200);
      expect(reply.body.length).toBeGreaterThan(100_000);
    }
  });

  it('answers 404 to anything else, whatever spelling of .. it is given', async () => {
    const paths = [
      '/nope',
      '/notes.txt',
      '/grpovi/notes.txt',
      '/grpovi/chunks/part.js',
      '/grpovi/index.js',
      '/index.html/',
      '/../package.json',
      '/..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/lib/../../package.json',
      '/lib/..%2f..%2fpackage.json',
      '/lib/cli/main.js',
      '/lib/train/trainer.js',
      '/grpovi/../../package.json',
      '/grpovi/..%2f..%2f..%2fpackage.json',
      '/wasm/tfjs-backend-wasm.wasm',
      '/grpovi/..%2ftfjs-backend-wasm.wasm',
      '/vendor/../../../../etc/passwd',
      '//etc/passwd',
      '/constructor',
      '/__proto__',
      '/%00',
    ];
    for (const path of paths) {
      const reply = await get(playground.url, path);
      expect(reply.status, path).toBe(404);
      expect(reply.body.toString()).not.toContain('"name": "grpovi"');
    }
  });

  it('answers only GET and HEAD, and only requests that name this machine', async () => {
    expect((await get(playground.url, '/', {}, 'POST')).status).toBe(405);
    expect((await get(playground.url, '/', {}, 'HEAD')).status).toBe(200);
    const { port } = new URL(playground.url);
    expect((await get(playground.url, '/', { host: `localhost:${port}` })).status).toBe(200);
    // A page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) gets nothing.
    const rebound = await get(playground.url, '/', { host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
  });

  it('serves page modules whose every import is another served module (no Node, no bare names)', () => {
    const files = playgroundFiles(bundleDir);
    for (const module of PAGE_MODULES) {
      const url = `/lib/${module}`;
      const source = readFileSync(files[url].path, 'utf8');
      const imports = [...source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/g)].map(
        (m) => m[1],
      );
      expect(source).not.toMatch(/\brequire\(/);
      for (const specifier of imports) {
        expect(specifier.startsWith('.'), `${module} imports ${specifier}`).toBe(true);
        const resolved = new URL(specifier, `http://x${url}`).pathname;
        expect(
          Object.hasOwn(files, resolved),
          `${module} imports ${specifier} (${resolved}), not served`,
        ).toBe(true);
      }
    }
    // And the page's own script imports only served modules too.
    const page = readFileSync(join(PAGE_DIR, 'playground.js'), 'utf8');
    const pageImports = [...page.matchAll(/\sfrom\s+'([^']+)'/g)].map((m) => m[1]);
    expect(pageImports.length).toBeGreaterThan(3);
    for (const specifier of pageImports) expect(Object.hasOwn(files, specifier), specifier).toBe(true);
  });

  it('says when the bundle is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'grpovi-playground-nobundle-'));
    const bare = await startPlayground({ port: 0, bundleDir: join(empty, 'missing') });
    try {
      expect(bare.bundled).toBe(false);
      expect((await get(bare.url, '/grpovi/grpovi.js')).status).toBe(404);
      expect(existsSync(join(empty, 'missing'))).toBe(false);
    } finally {
      await bare.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
