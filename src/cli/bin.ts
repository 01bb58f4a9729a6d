#!/usr/bin/env node
import { describeFsError } from './fsErrors.js';
import { runCli } from './main.js';

// A reader that goes away early (`grpovi --help | head`) is not an error. Output that cannot be
// written otherwise (a full disk) is the user's to fix: one line, exit 2.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) {
      process.stderr.write(`grpovi: cannot write to stdout: ${describeFsError(error)}\n`);
      process.exit(2);
    }
    throw error;
  });
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`grpovi: internal error: ${detail}\n`);
    process.exitCode = 1;
  },
);
