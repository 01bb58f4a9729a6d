import { describe, expect, it } from 'vitest';
import { type ComparisonRecord, configDifferences, planComparison } from '../../src/experiments/plan.js';
import {
  formatSweepValue,
  parseSweepSpec,
  parseSweeps,
  SweepError,
  settingsOf,
  withoutKeys,
} from '../../src/experiments/sweep.js';

function record(overrides: Partial<ComparisonRecord>): ComparisonRecord {
  return {
    format: 'grpovi-comparison',
    version: 1,
    task: 'toy',
    steps: 4,
    base_config: { task: 'toy', steps: 4, eval_every: 2, learning_rate: 0.003 },
    config_file: null,
    sweep: [],
    algos: ['grpo', 'grpovi'],
    seeds: [0, 1],
    command: 'grpovi compare',
    invocations: [],
    ...overrides,
  };
}

describe('parseSweepSpec', () => {
  it('parses numbers as numbers, other values as text, and the lr alias', () => {
    expect(parseSweepSpec('lr=1e-4,3e-4,1e-3')).toEqual({ key: 'learning_rate', values: [1e-4, 3e-4, 1e-3] });
    expect(parseSweepSpec('scale_rewards=group, batch')).toEqual({
      key: 'scale_rewards',
      values: ['group', 'batch'],
    });
    expect(parseSweepSpec('beta=0,0.04')).toEqual({ key: 'beta', values: [0, 0.04] });
  });

  it('names the bad part of a bad option', () => {
    expect(() => parseSweepSpec('lr')).toThrow(/key=v1,v2,v3.*"lr"/);
    expect(() => parseSweepSpec('learning_rat=1')).toThrow(/unknown config field "learning_rat"/);
    expect(() => parseSweepSpec('seed=1,2')).toThrow(/--seeds/);
    expect(() => parseSweepSpec('algo=grpo')).toThrow(/--algos/);
    expect(() => parseSweepSpec('lr=1e-3,,2e-3')).toThrow(/empty value/);
    expect(() => parseSweepSpec('lr=1e-3,0.001')).toThrow(/twice/);
    expect(() => parseSweeps(['lr=1', 'learning_rate=2'])).toThrow(SweepError);
  });
});

describe('settings', () => {
  it('form the cartesian product, first axis slowest, with canonical labels', () => {
    const axes = parseSweeps(['lr=3e-4,0.001', 'scale_rewards=group,batch,none']);
    const settings = settingsOf(axes);
    expect(settings.map((s) => s.label)).toEqual([
      'lr=3e-4,scale_rewards=group',
      'lr=3e-4,scale_rewards=batch',
      'lr=3e-4,scale_rewards=none',
      'lr=1e-3,scale_rewards=group',
      'lr=1e-3,scale_rewards=batch',
      'lr=1e-3,scale_rewards=none',
    ]);
    expect(settings[4].overrides).toEqual({ learning_rate: 0.001, scale_rewards: 'batch' });
    expect(settingsOf([])).toEqual([{ label: 'default', overrides: {} }]);
    expect(withoutKeys(settings[4], ['learning_rate'], axes).label).toBe('scale_rewards=batch');
    expect(withoutKeys(settings[4], ['learning_rate', 'scale_rewards'], axes).label).toBe('default');
  });

  it('format small numbers in exponent form and others plainly', () => {
    expect([3e-4, 0.001, 0.04, 0.5, 2, 0, 1.5e-3, 'batch'].map(formatSweepValue)).toEqual([
      '3e-4',
      '1e-3',
      '0.04',
      '0.5',
      '2',
      '0',
      '1.5e-3',
      'batch',
    ]);
  });
});

describe('planComparison', () => {
  it('plans one run per setting, algorithm and seed, each with its own config', () => {
    const plan = planComparison(record({ sweep: parseSweeps(['lr=1e-3,3e-3']) }));
    expect(plan.runs).toHaveLength(2 * 2 * 2);
    // Seeds outermost, so that an interrupted comparison has whole seeds.
    expect(plan.runs.slice(0, 4).map((r) => `${r.relDir}`)).toEqual([
      'lr=1e-3/grpo/seed-0',
      'lr=1e-3/grpovi/seed-0',
      'lr=3e-3/grpo/seed-0',
      'lr=3e-3/grpovi/seed-0',
    ]);
    const run = plan.cell('lr=3e-3', 'grpovi', 1);
    expect(run.config).toMatchObject({
      algo: 'grpovi',
      seed: 1,
      learning_rate: 3e-3,
      steps: 4,
      eval_every: 2,
    });
  });

  it('shares one GRPO run across GRPOVI-only values (grpovi_weights)', () => {
    const sweep = parseSweeps(['grpovi_weights=uniform,importance,probability', 'lr=1e-3,3e-3']);
    const plan = planComparison(record({ sweep, seeds: [0] }));
    // 3 x 2 settings: 6 GRPOVI runs, and GRPO only once per learning rate.
    expect(plan.runs.filter((r) => r.algo === 'grpovi')).toHaveLength(6);
    expect(plan.runs.filter((r) => r.algo === 'grpo').map((r) => r.relDir)).toEqual([
      'lr=1e-3/grpo/seed-0',
      'lr=3e-3/grpo/seed-0',
    ]);
    const a = plan.cell('grpovi_weights=uniform,lr=3e-3', 'grpo', 0);
    const b = plan.cell('grpovi_weights=probability,lr=3e-3', 'grpo', 0);
    expect(a).toBe(b);
    expect(a.config.grpovi_weights).toBe('uniform');
    expect(plan.cell('grpovi_weights=probability,lr=3e-3', 'grpovi', 0).config.grpovi_weights).toBe(
      'probability',
    );
  });

  it('rejects a swept value the config schema rejects, naming the setting', () => {
    expect(() => planComparison(record({ sweep: parseSweeps(['lr=-1']) }))).toThrow(
      /--sweep lr=-1.*learning_rate/,
    );
  });
});

describe('configDifferences', () => {
  it('lists changed, added and removed fields', () => {
    expect(configDifferences({ a: 1, b: [1, 2], c: 'x' }, { a: 1, b: [1, 3], d: true })).toEqual([
      'b: [1,2] -> [1,3]',
      'c: "x" -> (absent)',
      'd: (absent) -> true',
    ]);
  });
});
