import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The built CLI the end-to-end tests run: dist/cli/bin.js (`npm test` builds it first), or
 * GRPOVI_CLI_BIN, e.g. a build made with `tsc -p tsconfig.build.json --outDir ...` elsewhere.
 */
export const CLI_BIN = process.env.GRPOVI_CLI_BIN ?? join(ROOT, 'dist', 'cli', 'bin.js');
