import { existsSync, statSync } from 'node:fs';
import { startDashboard } from '../../dashboard/server.js';
import { UserInputError } from '../errors.js';
import type { DashboardFlags } from '../options/dashboard.js';

/** Runs `grpovi dashboard DIR` until Ctrl-C (or SIGTERM); prints the page's URL on stdout. */
export async function executeDashboard(dir: string, flags: DashboardFlags): Promise<void> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UserInputError(`dashboard: ${JSON.stringify(dir)} is not a folder`);
  if (flags.port > 65535) throw new UserInputError(`--port must be at most 65535 (${flags.port})`);
  let dashboard;
  try {
    dashboard = await startDashboard({ dir, host: flags.host, port: flags.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use (try --port 0)' : (error as Error).message;
    throw new UserInputError(`dashboard: cannot listen on ${flags.host}:${flags.port}: ${why}`);
  }
  process.stdout.write(`dashboard: ${dashboard.url} (runs under ${dir}; Ctrl-C to stop)\n`);
  const running = dashboard;
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
