#!/usr/bin/env node
import { describeFsError } from './fsErrors.js';
import { releaseNodeGpu } from '../nn/backends/webgpu/nodeGpu.js';
import { runCli } from './main.js';
import { describeSystemError } from './systemErrors.js';
import { brokenPipeWatched, isBrokenPipe, markStdioBroken, stdioBroken } from '../train/interrupt.js';

// A reader that goes away early (`grpovi --help | head`) is not an error; a full disk is one line.
// Training that is under way stops after its step with a checkpoint instead (train/interrupt.ts).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (isBrokenPipe(error)) {
      const handled = brokenPipeWatched() || stdioBroken();
      markStdioBroken();
      if (!handled) process.exit(process.exitCode ?? 0);
      return;
    }
    const system =
      stream === process.stdout
        ? `cannot write to stdout: ${describeFsError(error)}`
        : describeSystemError(error);
    if (system === undefined) throw error;
    try {
      if (stream !== process.stderr) process.stderr.write(`grpovi: ${system}\n`);
    } catch {
      // stderr is gone too: the exit status is all that is left.
    }
    process.exit(2);
  });
}

runCli(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      process.stderr.write(`grpovi: internal error: ${detail}\n`);
      process.exitCode = 1;
    },
  )
  // Dawn's GPU (--backend webgpu) keeps Node alive while it is reachable.
  .finally(releaseNodeGpu);
