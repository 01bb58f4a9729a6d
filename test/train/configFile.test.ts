import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/train/config.js';
import { readConfigFile } from '../../src/train/setup.js';
import { tempDir } from './helpers.js';

// The config file goes through the strict JSON parser: what plain JSON.parse would let through
// (a repeated key whose first value is silently dropped, nesting that overflows later code) is refused.

let root: ReturnType<typeof tempDir>;
beforeAll(() => {
  root = tempDir('config-file');
});
afterAll(() => root.cleanup());

function rejection(name: string, text: string): ConfigError {
  const path = join(root.dir, name);
  writeFileSync(path, text);
  try {
    readConfigFile(path);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as ConfigError;
  }
  throw new Error(`${name} was accepted`);
}

describe('config files are parsed strictly', () => {
  it('a repeated key is refused with its name and position', () => {
    const error = rejection('twice.json', '{\n  "learning_rate": 0.1,\n  "learning_rate": 0.001\n}\n');
    expect(error.message).toBe(
      `config file ${JSON.stringify(join(root.dir, 'twice.json'))}: duplicate key "learning_rate" at line 3, column 3`,
    );
  });

  it('nesting 100,000 deep is refused at once', () => {
    const error = rejection('deep.json', `{"beta": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    expect(error.message).toMatch(
      /: beta\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels at column 73 \(\[{24}\.\.\.\)$/,
    );
  });

  it('a syntax error without a position from JSON.parse still gets its line and column', () => {
    const error = rejection('nan.json', '{\n  "beta": NaN\n}\n');
    expect(error.message).toMatch(/ is not valid JSON at line 2, column 11 \(Unexpected token 'N'\)$/);
  });

  it('a byte-order mark and repeated keys in different objects are fine', () => {
    const path = join(root.dir, 'bom.json');
    writeFileSync(path, '\uFEFF{"learning_rate": 0.01}');
    expect(readConfigFile(path).values).toEqual({ learning_rate: 0.01 });
  });
});
