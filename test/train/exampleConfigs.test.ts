import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfigFile, resolveTrainConfig } from '../../src/train/setup.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

/** Every shipped JSON config file (the regime map's cells, the README's comparisons, the own task). */
function configFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return configFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}

describe('shipped example configs', () => {
  const files = configFiles(EXAMPLES);

  it('include the regime map and its variants', () => {
    const names = files.map((file) => relative(EXAMPLES, file));
    expect(names).toContain(join('regimes', 'none-t10-b0.04-s0.5.json'));
    expect(names).toContain(join('regimes', 'group-t1-10-b0.04-m0.1.json'));
  });

  it.each(files.map((file) => [relative(EXAMPLES, file), file]))(
    '%s is a valid train config',
    (_name, file) => {
      const configFile = readConfigFile(file);
      const config = resolveTrainConfig({ configFile, taskDefaults: { task: 'sentiment' } });
      // What each file sets survives the merge and validation unchanged (nothing is silently dropped).
      for (const [key, value] of Object.entries(configFile.values)) {
        expect(config[key as keyof typeof config], key).toEqual(value);
      }
    },
  );
});
