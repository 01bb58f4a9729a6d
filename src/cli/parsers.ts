import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';

/**
 * Flag value parsers. Commander's error already names the option and the value
 * (`option '--steps <n>' argument 'x' is invalid.`); the parser says what it must be.
 */

function numberOf(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}

/** A whole number, at least `min`. */
export function integerArg(min = Number.MIN_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = numberOf(value);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(
        min === Number.MIN_SAFE_INTEGER
          ? 'It must be a whole number, e.g. 8.'
          : `It must be a whole number >= ${min}.`,
      );
    }
    return n;
  };
}

/** A finite number, optionally within [min, max) or (0, max]. */
export function numberArg(
  bounds: { positive?: boolean; min?: number; below?: number } = {},
): (value: string) => number {
  return (value) => {
    const n = numberOf(value);
    if (!Number.isFinite(n))
      throw new InvalidArgumentError('It must be a finite number, e.g. 0.001 or 1e-4.');
    if (bounds.positive && !(n > 0)) throw new InvalidArgumentError('It must be a positive number.');
    if (bounds.min !== undefined && n < bounds.min)
      throw new InvalidArgumentError(`It must be at least ${bounds.min}.`);
    if (bounds.below !== undefined && !(n < bounds.below))
      throw new InvalidArgumentError(`It must be below ${bounds.below}.`);
    return n;
  };
}

/** Two numbers `MIN,MAX`. */
export function rangeArg(value: string): [number, number] {
  const parts = value.split(',');
  const numbers = parts.map(numberOf);
  if (parts.length !== 2 || !numbers.every(Number.isFinite)) {
    throw new InvalidArgumentError('It must be two numbers MIN,MAX, e.g. 0,1.');
  }
  return [numbers[0], numbers[1]];
}

/** A comma list of names, e.g. `q_proj,v_proj` (no empty or repeated entries). */
export function nameListArg(value: string): string[] {
  const names = value.split(',').map((name) => name.trim());
  if (names.some((name) => name === ''))
    throw new InvalidArgumentError('It must be a comma list of names, e.g. q_proj,v_proj.');
  if (new Set(names).size !== names.length) throw new InvalidArgumentError('A name is given twice.');
  return names;
}

/** A path made absolute against the working directory, so that run folders record where the file is. */
export function pathArg(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('It must be a path.');
  return resolve(value);
}

/** A file, made absolute, or else a name (e.g. `--chat-template FILE|NAME`): a path when the file exists. */
export function pathOrNameArg(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('It must be a path or a name.');
  return existsSync(value) ? resolve(value) : value;
}

/**
 * `PATH[:WEIGHT]`, e.g. `rewards/length.mjs:0.5`: the path made absolute and the weight (absent: 1
 * is meant). A suffix after the last `:` that is not a number belongs to the path.
 */
export function weightedPathArg(value: string): { path: string; weight?: number } {
  const match = /^(.+):([^:/\\]+)$/.exec(value);
  const weight = match === null ? Number.NaN : numberOf(match[2]);
  if (match !== null && Number.isFinite(weight)) return { path: pathArg(match[1]), weight };
  return { path: pathArg(value) };
}
