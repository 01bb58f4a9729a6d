/**
 * Sweeps over config fields: `--sweep key=v1,v2,v3` (repeatable). The cartesian product of the
 * values forms the comparison's settings; every algorithm runs under every setting with every seed.
 */
import { TrainConfigSchema } from '../train/config.js';

export type SweepValue = number | string;

/** One swept field with its values, in the order given. `key` is the config field name. */
export interface SweepAxis {
  key: string;
  values: SweepValue[];
}

/** One point of the sweep: the fields it overrides and its folder name. */
export interface Setting {
  /** `default` without a sweep; else `key=value` pairs joined by commas, e.g. `lr=3e-4,scale_rewards=batch`. */
  label: string;
  overrides: Record<string, SweepValue>;
}

/** A bad `--sweep` option; the message names it and the bad part. */
export class SweepError extends Error {
  override readonly name = 'SweepError';
}

/** Short names accepted for config fields (and used in setting labels). */
export const SWEEP_ALIASES: Readonly<Record<string, string>> = { lr: 'learning_rate' };
const LABEL_NAMES: Readonly<Record<string, string>> = { learning_rate: 'lr' };

/** Fields only GRPOVI reads: a GRPO run does not depend on them, so one GRPO run serves every value. */
export const GRPOVI_ONLY_KEYS: readonly string[] = [
  'grpovi_weights',
  'reward_range',
  'grpovi_strength',
  'grpovi_max_std',
];

/**
 * Fields that cannot be swept: the run's identity has its own options (--task, --algos, --seeds,
 * --steps), and structured values have no `a,b,c` form.
 */
const NOT_SWEEPABLE: Readonly<Record<string, string>> = {
  task: 'use a separate comparison per task',
  algo: 'use --algos',
  seed: 'use --seeds or --seed-list',
  steps: 'use --steps',
  model: 'it is an object',
  reward_range: 'it is a pair of numbers',
  reward_temperature_range: 'it is a pair of numbers; give it in a --config file',
  policy: 'it is a path',
  adapter: 'it is a path',
  lora_target_modules: 'it is a list of names; give it with --lora-target-modules or in a --config file',
};

export function sweepableKeys(): string[] {
  return Object.keys(TrainConfigSchema.shape).filter((key) => !(key in NOT_SWEEPABLE));
}

/** The canonical form of a sweep value: numbers when numeric, else the trimmed text. */
export function parseSweepValue(text: string): SweepValue {
  const trimmed = text.trim();
  const number = trimmed === '' ? Number.NaN : Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

/** Compact, canonical text of a value: small numbers in exponent form (3e-4), others as JavaScript prints them. */
export function formatSweepValue(value: SweepValue): string {
  if (typeof value === 'string') return value;
  if (value !== 0 && Math.abs(value) < 1e-2) return value.toExponential();
  return String(value);
}

/** Parses one `key=v1,v2,...` option. */
export function parseSweepSpec(spec: string): SweepAxis {
  const eq = spec.indexOf('=');
  if (eq <= 0)
    throw new SweepError(
      `--sweep must look like key=v1,v2,v3, e.g. lr=1e-4,3e-4,1e-3 (${JSON.stringify(spec)})`,
    );
  const given = spec.slice(0, eq).trim();
  const key = SWEEP_ALIASES[given] ?? given;
  if (key in NOT_SWEEPABLE)
    throw new SweepError(`--sweep ${given}: this field cannot be swept: ${NOT_SWEEPABLE[key]}`);
  if (!sweepableKeys().includes(key)) {
    throw new SweepError(
      `--sweep: unknown config field ${JSON.stringify(given)}; fields: lr, ${sweepableKeys().join(', ')}`,
    );
  }
  const parts = spec.slice(eq + 1).split(',');
  if (parts.some((p) => p.trim() === ''))
    throw new SweepError(`--sweep ${given}: empty value in ${JSON.stringify(spec)}`);
  const values: SweepValue[] = [];
  for (const part of parts) {
    const value = parseSweepValue(part);
    if (values.some((v) => v === value))
      throw new SweepError(`--sweep ${given}: value given twice (${part.trim()})`);
    values.push(value);
  }
  return { key, values };
}

/** Parses every `--sweep` option; a field may be swept once. */
export function parseSweeps(specs: readonly string[]): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const spec of specs) {
    const axis = parseSweepSpec(spec);
    if (axes.some((a) => a.key === axis.key))
      throw new SweepError(`--sweep: field "${axis.key}" is swept twice (${spec})`);
    axes.push(axis);
  }
  return axes;
}

/** The label of a set of overrides, keys in the order of the axes. */
export function settingLabel(overrides: Record<string, SweepValue>, axes: readonly SweepAxis[]): string {
  const parts = axes
    .filter((axis) => axis.key in overrides)
    .map((axis) => `${LABEL_NAMES[axis.key] ?? axis.key}=${formatSweepValue(overrides[axis.key])}`);
  return parts.length > 0 ? parts.join(',') : 'default';
}

/** Every combination of the axes' values (the first axis varies slowest); `default` without axes. */
export function settingsOf(axes: readonly SweepAxis[]): Setting[] {
  let combos: Record<string, SweepValue>[] = [{}];
  for (const axis of axes)
    combos = combos.flatMap((combo) => axis.values.map((value) => ({ ...combo, [axis.key]: value })));
  return combos.map((overrides) => ({ label: settingLabel(overrides, axes), overrides }));
}

/** The setting with some fields dropped (e.g. the GRPOVI-only ones for a GRPO run, or the learning rate). */
export function withoutKeys(setting: Setting, keys: readonly string[], axes: readonly SweepAxis[]): Setting {
  const overrides = Object.fromEntries(
    Object.entries(setting.overrides).filter(([key]) => !keys.includes(key)),
  );
  return { label: settingLabel(overrides, axes), overrides };
}
