import type { HelpConfiguration, Option } from 'commander';

/**
 * How every command's --help describes an option, in one style: the description, then
 * `(one of: a, b)`, `(default: X)` and `(required)` as they apply. Defaults are written as a user
 * types them (1e-4, not 0.0001; wasm, not "wasm").
 */

/** A default value as a user would type it. */
export function formatDefault(value: unknown): string {
  if (Array.isArray(value)) return value.map(formatDefault).join(',');
  if (typeof value === 'number' && value !== 0 && Math.abs(value) < 1e-2) return value.toExponential();
  return String(value);
}

export function describeOption(option: Option): string {
  const parts = [option.description];
  if (option.argChoices) parts.push(`(one of: ${option.argChoices.join(', ')})`);
  if (option.defaultValueDescription !== undefined)
    parts.push(`(default: ${option.defaultValueDescription})`);
  else if (option.defaultValue !== undefined && !option.isBoolean())
    parts.push(`(default: ${formatDefault(option.defaultValue)})`);
  if (option.mandatory) parts.push('(required)');
  return parts.filter((part) => part !== '').join(' ');
}

export const HELP_STYLE: HelpConfiguration = {
  optionDescription: describeOption,
};
