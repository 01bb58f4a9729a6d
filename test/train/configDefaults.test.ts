import { describe, expect, it } from 'vitest';
import { TrainConfigSchema } from '../../src/train/config.js';
import { CONFIG_DEFAULTS } from '../../src/train/configDefaults.js';
import { globalDefaults } from '../../src/train/setup.js';

describe('CONFIG_DEFAULTS', () => {
  it("equals the schema's defaults (what `grpovi train --help` shows is what training uses)", () => {
    expect(CONFIG_DEFAULTS).toStrictEqual(globalDefaults());
  });

  it('is what a config with only a task resolves to', () => {
    expect({ task: 'toy', ...CONFIG_DEFAULTS }).toStrictEqual(TrainConfigSchema.parse({ task: 'toy' }));
  });
});
