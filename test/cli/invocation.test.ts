import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { grpoviInvocation, type StartedAs } from '../../src/cli/invocation.js';
import { tempDir } from '../train/helpers.js';

// How compare --plan's commands call grpovi, from how this process was started: a package with its
// bin script, linked as node_modules/.bin/grpovi, and folders a PATH may or may not hold.

const { dir, cleanup } = tempDir('invocation');
afterAll(cleanup);

const script = join(dir, 'pkg', 'dist', 'cli', 'bin.js');
mkdirSync(join(dir, 'pkg', 'dist', 'cli'), { recursive: true });
writeFileSync(script, '#!/usr/bin/env node\n');
const bin = join(dir, 'node_modules', '.bin');
mkdirSync(bin, { recursive: true });
symlinkSync(script, join(bin, 'grpovi'));
const other = join(dir, 'other-bin');
mkdirSync(other);
symlinkSync(join(dir, 'pkg', 'elsewhere.js'), join(other, 'grpovi')); // a grpovi that is not this one

function startedAs(overrides: Partial<StartedAs> & { env?: StartedAs['env'] }): StartedAs {
  return {
    argv: ['/usr/bin/node', join(bin, 'grpovi'), 'compare'],
    env: {},
    execPath: '/usr/bin/node',
    execArgv: [],
    ...overrides,
  };
}

describe('grpoviInvocation', () => {
  it('npx (npm exec) started it: npx grpovi', () => {
    expect(grpoviInvocation(startedAs({ env: { npm_command: 'exec', PATH: bin } }))).toBe('npx grpovi');
  });

  it('the PATH finds this very script: grpovi', () => {
    const env = { PATH: ['/nowhere', bin].join(delimiter) };
    expect(grpoviInvocation(startedAs({ env }))).toBe('grpovi');
  });

  it('otherwise node and the absolute script, with node options, quoted for the shell', () => {
    const absolute = `/usr/bin/node ${realpathSync(script)}`;
    // Not on the PATH; another grpovi on the PATH; on a PATH that `npm run` made; started as bin.js.
    expect(grpoviInvocation(startedAs({ env: { PATH: '/nowhere' } }))).toBe(absolute);
    expect(grpoviInvocation(startedAs({ env: { PATH: other } }))).toBe(absolute);
    expect(grpoviInvocation(startedAs({ env: { npm_command: 'run-script', PATH: bin } }))).toBe(absolute);
    expect(grpoviInvocation(startedAs({ argv: ['/usr/bin/node', script], env: { PATH: '/x' } }))).toBe(
      absolute,
    );
    expect(
      grpoviInvocation(
        startedAs({
          argv: ['/usr/bin/node', script],
          execPath: '/opt/my node/bin/node',
          execArgv: ['--import', 'file:///x/loader.mjs'],
          env: { npm_command: 'exec' },
        }),
      ),
    ).toBe(`'/opt/my node/bin/node' --import file:///x/loader.mjs ${realpathSync(script)}`);
  });
});
