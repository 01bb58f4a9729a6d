/**
 * The playground's HTTP server (Node's own `http`): the page and its scripts, grpovi's browser
 * bundle (`dist/browser/`, with TF.js's wasm binaries) and vega/vega-lite's browser builds, all from
 * the installed package. The page trains in the browser tab: the server holds no state, reads no file
 * the user names and writes nothing. Every other path is a 404: files are looked up by exact URL
 * path in a table built at start, never joined onto a folder, so `..` cannot reach anything.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostAllowed, send } from '../dashboard/server.js';

/** The package root (this file is src/playground/server.ts or dist/playground/server.js). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The page's folder in the package (shipped through package.json `files`). */
export const PAGE_DIR = join(PACKAGE_ROOT, 'public', 'playground');
/** Where `npm run build` writes the browser bundle (package export `grpovi/browser`). */
export const BUNDLE_DIR = join(PACKAGE_ROOT, 'dist', 'browser');
/** The bundle's entry module as the page imports it. */
export const BUNDLE_URL = '/grpovi/grpovi.js';
/** The compiled modules (under dist/) the page imports as they are, at `/lib/<path>`. */
const DIST_DIR = join(PACKAGE_ROOT, 'dist');
/**
 * The page's own modules (src/playground/page/) and the project modules they and the page import:
 * the dashboard's chart specs, the reading of a reward module's default export (the CLI's own) and
 * the user-input error helpers. All free of Node and of bare
 * imports (test/playground/server.test.ts checks that every import among them resolves to another).
 */
export const PAGE_MODULES = [
  'tasks/sources/promptFile.js',
  'tasks/sources/userText.js',
  'nn/tokenizers/chatMessage.js',
  'playground/page/reward.js',
  'playground/page/folder.js',
  'playground/page/zip.js',
  'rewards/rewardExport.js',
  'nn/weights/checkpointError.js',
  'util/jsonText.js',
  'experiments/runPlots.js',
  'experiments/vegaLiteBase.js',
  'experiments/stats.js',
  'train/referencePolicy.js',
  'util/describeValue.js',
  'util/strictJson.js',
  'util/userFileError.js',
] as const;

const require = createRequire(import.meta.url);

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
};

function typeOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? undefined : TYPES[name.slice(dot)];
}

export interface ServedFile {
  path: string;
  type: string;
}

/** Files of a folder (not its subfolders) whose names `keep` accepts, keyed `prefix/name`. */
function folderFiles(
  dir: string,
  prefix: string,
  keep: (name: string) => boolean,
): Record<string, ServedFile> {
  const files: Record<string, ServedFile> = {};
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const type = typeOf(entry.name);
    if (!entry.isFile() || type === undefined || !keep(entry.name)) continue;
    files[`${prefix}/${entry.name}`] = { path: join(dir, entry.name), type };
  }
  return files;
}

/** The bundle's files: the entry module (and its source map) and the wasm binaries beside it, not tsc's modules there. */
const isBundleFile = (name: string) => /^grpovi\.js(\.map)?$|\.wasm$/.test(name);

/**
 * The only files the server hands out, by URL path: the page (`/` and `public/playground/*`), its
 * compiled modules (`/lib/*`), the bundle with the wasm backend's binaries the build copies beside
 * it (`/grpovi/*`) and vega's builds (`/vendor/*`).
 */
export function playgroundFiles(bundleDir = BUNDLE_DIR): Record<string, ServedFile> {
  const vegaBuild = dirname(require.resolve('vega'));
  const vegaLiteBuild = dirname(require.resolve('vega-lite'));
  return {
    ...folderFiles(PAGE_DIR, '', () => true),
    '/': { path: join(PAGE_DIR, 'index.html'), type: TYPES['.html'] },
    ...folderFiles(bundleDir, '/grpovi', isBundleFile),
    ...Object.fromEntries(
      PAGE_MODULES.map((module) => [`/lib/${module}`, { path: join(DIST_DIR, module), type: TYPES['.js'] }]),
    ),
    '/vendor/vega.min.js': { path: join(vegaBuild, 'vega.min.js'), type: TYPES['.js'] },
    '/vendor/vega-lite.min.js': { path: join(vegaLiteBuild, 'vega-lite.min.js'), type: TYPES['.js'] },
  };
}

export interface PlaygroundOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The browser bundle's folder (default: the package's dist/browser/). */
  bundleDir?: string;
}

export interface RunningPlayground {
  server: Server;
  url: string;
  /** Whether the browser bundle was found (the page cannot train without it). */
  bundled: boolean;
  close(): Promise<void>;
}

function handler(files: Record<string, ServedFile>, boundHost: string, port: () => number) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req, boundHost, port)) {
      send(res, 403, 'text/plain; charset=utf-8', 'the playground answers only requests to this machine\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'only GET\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      if (path === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const file = Object.hasOwn(files, path) ? files[path] : undefined;
      if (!file) {
        send(res, 404, 'text/plain; charset=utf-8', `not found: ${path}\n`);
        return;
      }
      send(res, 200, file.type, readFileSync(file.path));
    } catch (error) {
      send(res, 500, 'text/plain; charset=utf-8', `${(error as Error).message}\n`);
    }
  };
}

/** Starts the playground's server; resolves once it listens. */
export function startPlayground(options: PlaygroundOptions = {}): Promise<RunningPlayground> {
  const host = options.host ?? '127.0.0.1';
  const files = playgroundFiles(options.bundleDir);
  const port = () => (server.address() as AddressInfo | null)?.port ?? 0;
  const server: Server = createServer(handler(files, host, port));
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        server,
        url: `http://${shown}:${port}/`,
        bundled: Object.hasOwn(files, BUNDLE_URL),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
