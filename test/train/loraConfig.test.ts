import { describe, expect, it } from 'vitest';
import { nameListArg } from '../../src/cli/parsers.js';
import { parseSweepSpec } from '../../src/experiments/sweep.js';
import { loraEnabled, parseTrainConfig } from '../../src/train/config.js';

describe('LoRA config fields', () => {
  it('are absent by default (full fine-tuning) and read when given', () => {
    const plain = parseTrainConfig({ task: 'toy' });
    expect(plain.lora_r).toBeUndefined();
    expect(loraEnabled(plain)).toBe(false);
    const lora = parseTrainConfig({
      task: 'toy',
      lora_r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      lora_target_modules: ['c_attn', 'c_proj'],
    });
    expect(loraEnabled(lora)).toBe(true);
    expect(lora).toMatchObject({
      lora_r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      lora_target_modules: ['c_attn', 'c_proj'],
    });
    expect(loraEnabled(parseTrainConfig({ task: 'toy', lora_r: 0 }))).toBe(false);
    expect(loraEnabled(parseTrainConfig({ task: 'toy', adapter: '/a' }))).toBe(true);
  });

  it('name the field and value of a bad one', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ lora_r: -1 }, 'config: field "lora_r" Too small: expected number to be >=0 (-1)'],
      [{ lora_r: 2.5 }, 'field "lora_r"'],
      [{ lora_r: 4, lora_alpha: 0 }, 'field "lora_alpha"'],
      [{ lora_r: 4, lora_dropout: 1 }, 'field "lora_dropout"'],
      [{ lora_r: 4, lora_target_modules: [] }, 'field "lora_target_modules"'],
      [
        { lora_alpha: 16 },
        'config: field "lora_alpha" needs lora_r above 0 (or an adapter folder) to mean anything (16)',
      ],
      [{ lora_r: 0, lora_target_modules: ['q_proj'] }, 'field "lora_target_modules" needs lora_r above 0'],
    ];
    for (const [values, message] of cases)
      expect(() => parseTrainConfig({ task: 'toy', ...values })).toThrow(message);
  });

  it('--lora-target-modules takes a comma list; compare sweeps lora_r but not the list', () => {
    expect(nameListArg('q_proj, v_proj')).toEqual(['q_proj', 'v_proj']);
    expect(() => nameListArg('q_proj,,v_proj')).toThrow(/comma list/);
    expect(() => nameListArg('q_proj,q_proj')).toThrow(/twice/);
    expect(parseSweepSpec('lora_r=0,4,8')).toEqual({ key: 'lora_r', values: [0, 4, 8] });
    expect(() => parseSweepSpec('lora_target_modules=q_proj')).toThrow(/cannot be swept/);
  });
});
