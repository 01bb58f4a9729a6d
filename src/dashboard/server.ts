/**
 * The dashboard's HTTP server (Node's own `http`): the page and its scripts, vega and vega-lite's
 * browser builds from their npm packages (the page loads nothing from the internet), and
 * `/api/state`, the JSON the page polls. Read-only: it never writes under the runs' directory.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DashboardSource } from './state.js';

/** The page's folder in the package (shipped through package.json `files`). */
export const PAGE_DIR = fileURLToPath(new URL('../../public/dashboard/', import.meta.url));

const require = createRequire(import.meta.url);

/** The only files the server hands out, by URL path. */
function staticFiles(): Record<string, { path: string; type: string }> {
  const vegaBuild = dirname(require.resolve('vega'));
  const vegaLiteBuild = dirname(require.resolve('vega-lite'));
  return {
    '/': { path: join(PAGE_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
    '/dashboard.js': { path: join(PAGE_DIR, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard.css': { path: join(PAGE_DIR, 'dashboard.css'), type: 'text/css; charset=utf-8' },
    '/vendor/vega.min.js': { path: join(vegaBuild, 'vega.min.js'), type: 'text/javascript; charset=utf-8' },
    '/vendor/vega-lite.min.js': {
      path: join(vegaLiteBuild, 'vega-lite.min.js'),
      type: 'text/javascript; charset=utf-8',
    },
  };
}

export interface DashboardOptions {
  dir: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RunningDashboard {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * On a loopback address, only requests naming this machine in their Host header are served: a web
 * page elsewhere that points its own name at 127.0.0.1 (DNS rebinding) cannot read the runs.
 */
export function hostAllowed(req: IncomingMessage, boundHost: string, port: () => number): boolean {
  if (!LOOPBACK.has(boundHost)) return true;
  const host = req.headers.host ?? '';
  return [`127.0.0.1:${port()}`, `localhost:${port()}`, `[::1]:${port()}`].includes(host.toLowerCase());
}

function handler(
  source: DashboardSource,
  files: ReturnType<typeof staticFiles>,
  boundHost: string,
  port: () => number,
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req, boundHost, port)) {
      send(res, 403, 'text/plain; charset=utf-8', 'the dashboard answers only requests to this machine\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'only GET\n');
      return;
    }
    try {
      if (path === '/api/state') {
        send(res, 200, 'application/json; charset=utf-8', JSON.stringify(source.state()));
        return;
      }
      if (path === '/favicon.ico') {
        res.writeHead(204).end();
        return;
      }
      const file = files[path];
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

/** Starts the dashboard; resolves once it listens. */
export function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const source = new DashboardSource(options.dir);
  const host = options.host ?? '127.0.0.1';
  const port = () => (server.address() as AddressInfo | null)?.port ?? 0;
  const server: Server = createServer(handler(source, staticFiles(), host, port));
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        server,
        url: `http://${shown}:${port}/`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
