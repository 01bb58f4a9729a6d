import { startPlayground } from '../../playground/server.js';
import { UserInputError } from '../errors.js';
import type { PlaygroundFlags } from '../options/playground.js';

/** Runs `grpovi playground` until Ctrl-C (or SIGTERM); prints the page's URL on stdout. */
export async function executePlayground(flags: PlaygroundFlags): Promise<void> {
  if (flags.port > 65535) throw new UserInputError(`--port must be at most 65535 (${flags.port})`);
  let playground;
  try {
    playground = await startPlayground({ host: flags.host, port: flags.port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? 'the port is in use (try --port 0)'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'no such address on this machine'
          : (error as Error).message;
    throw new UserInputError(`playground: cannot listen on ${flags.host}:${flags.port}: ${why}`);
  }
  if (!playground.bundled)
    process.stderr.write(
      'playground: warning: the browser bundle (dist/browser/) is missing: run `npm run build`; the page cannot train without it\n',
    );
  process.stdout.write(`playground: ${playground.url} (Ctrl-C to stop)\n`);
  const running = playground;
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
