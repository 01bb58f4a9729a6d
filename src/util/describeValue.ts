/**
 * The bounded value printer for error messages (re-exported by boundedJson.ts, beside the bounded
 * reader). No Node imports: the adjust solver, which also runs in browsers, prints its inputs with it.
 */

/** The most characters `describeValue` returns by default. */
export const DESCRIBE_CHARS = 80;
/** Containers deeper than this print as `[...]` / `{...}`. */
const DESCRIBE_LEVELS = 6;

/**
 * A value for an error message: JSON-like, unambiguous about its type (strings quoted, `undefined`,
 * `NaN`, `Infinity`, `12n`), at most `limit` characters (ending in `...` when cut), whatever its size
 * or depth. Never calls the value's own toString (which recurses through nested arrays).
 */
export function describeValue(value: unknown, limit = DESCRIBE_CHARS): string {
  let text = '';
  let full = false;
  // Room for the cut-off marker is kept by writing one character past the limit at most.
  const emit = (piece: string): void => {
    if (full) return;
    const room = limit + 1 - text.length;
    if (piece.length >= room) {
      text += piece.slice(0, room);
      full = true;
    } else text += piece;
  };
  const walk = (v: unknown, level: number): void => {
    if (full) return;
    if (v === null || typeof v !== 'object') {
      emit(describeScalar(v, limit));
      return;
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return emit('[]');
      if (level >= DESCRIBE_LEVELS) return emit('[...]');
      emit('[');
      for (let i = 0; i < v.length && !full; i++) {
        if (i > 0) emit(',');
        walk(v[i], level + 1);
      }
      emit(']');
      return;
    }
    if (!isPlainObject(v)) {
      emit(`(${Object.prototype.toString.call(v).slice(8, -1)})`);
      return;
    }
    let first = true;
    for (const key in v) {
      if (!Object.hasOwn(v, key)) continue;
      if (first && level >= DESCRIBE_LEVELS) return emit('{...}');
      emit(first ? '{' : ',');
      first = false;
      emit(`${JSON.stringify(key.length > limit ? key.slice(0, limit) : key)}:`);
      walk((v as Record<string, unknown>)[key], level + 1);
      if (full) return;
    }
    emit(first ? '{}' : '}');
  };
  walk(value, 0);
  return full ? `${text.slice(0, Math.max(0, limit - 3))}...` : text;
}

function describeScalar(v: unknown, limit: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > limit ? v.slice(0, limit) : v);
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (typeof v === 'function') return '(a function)';
  return `(${typeof v})`;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
