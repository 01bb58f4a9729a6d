import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_JSON_DEPTH,
  parseStrictJson,
  StrictJsonError,
  syntaxErrorOffset,
} from '../../src/util/strictJson.js';

/** The error parseStrictJson throws for `text`, or fails the test. */
function rejection(text: string, source = 'input.json'): StrictJsonError {
  try {
    parseStrictJson(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(StrictJsonError);
    return error as StrictJsonError;
  }
  throw new Error(`accepted ${JSON.stringify(text.slice(0, 60))}`);
}

// A JSON value written out by the test itself, where objects are lists of entries so that a key can
// repeat: the reference for duplicate keys and depth is computed on this structure, not on the text.
type Tree = number | string | boolean | null | Tree[] | { entries: Array<[string, Tree]> };

function write(tree: Tree, spaced: boolean): string {
  const gap = spaced ? ' \n\t' : '';
  if (Array.isArray(tree)) return `[${gap}${tree.map((t) => write(t, spaced)).join(`,${gap}`)}]`;
  if (tree !== null && typeof tree === 'object') {
    return `{${gap}${tree.entries.map(([k, v]) => `${quote(k)}${gap}:${gap}${write(v, spaced)}`).join(`,${gap}`)}}`;
  }
  return quote(tree);
}

/** JSON.stringify, except that some characters are written as \u escapes, which must not matter. */
function quote(value: number | string | boolean | null): string {
  const text = JSON.stringify(value);
  if (typeof value !== 'string') return text;
  return text.replace(/[a-c]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function hasDuplicateKey(tree: Tree): boolean {
  if (Array.isArray(tree)) return tree.some(hasDuplicateKey);
  if (tree !== null && typeof tree === 'object') {
    const keys = tree.entries.map(([k]) => k);
    return new Set(keys).size < keys.length || tree.entries.some(([, v]) => hasDuplicateKey(v));
  }
  return false;
}

function depthOf(tree: Tree): number {
  if (Array.isArray(tree)) return 1 + Math.max(0, ...tree.map(depthOf));
  if (tree !== null && typeof tree === 'object')
    return 1 + Math.max(0, ...tree.entries.map(([, v]) => depthOf(v)));
  return 0;
}

function toValue(tree: Tree): unknown {
  if (Array.isArray(tree)) return tree.map(toValue);
  if (tree !== null && typeof tree === 'object') {
    return Object.fromEntries(tree.entries.map(([k, v]) => [k, toValue(v)]));
  }
  return tree;
}

// Keys from a small alphabet (so that repeats are common), including quotes, backslashes and brackets.
const keyArb = fc.string({
  unit: fc.constantFrom('a', 'b', 'c', '"', '\\', '{', '[', ':', ',', 'é'),
  maxLength: 3,
});
const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), keyArb, fc.boolean(), fc.constant(null)),
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.record({ entries: fc.array(fc.tuple(keyArb, tie('tree')), { maxLength: 4 }) }),
  ),
})).tree;

describe('parseStrictJson', () => {
  it('on random texts: rejects exactly those with a repeated key in some object, else equals JSON.parse', () => {
    fc.assert(
      fc.property(treeArb, fc.boolean(), (tree, spaced) => {
        const text = write(tree, spaced);
        expect(syntaxErrorOffset(text)).toBe(-1);
        if (hasDuplicateKey(tree)) {
          expect(rejection(text).kind).toBe('duplicate-key');
        } else {
          const parsed = parseStrictJson(text, 'x');
          expect(parsed).toEqual(JSON.parse(text));
          // (JSON.stringify writes -0 as 0.)
          expect(parsed).toEqual(JSON.parse(JSON.stringify(toValue(tree))));
        }
      }),
      { numRuns: 2000, seed: 1014 },
    );
  });

  it('accepts nesting of exactly 64 levels, rejects 65, counting arrays and objects alike', () => {
    for (const [open, close, path] of [
      ['[', ']', '[0][0][0][0]...'],
      ['{"k":', '}', 'k.k.k.k...'],
    ]) {
      const nested = (depth: number): string => `${open.repeat(depth)}1${close.repeat(depth)}`;
      expect(() => parseStrictJson(nested(MAX_JSON_DEPTH), 'x')).not.toThrow();
      const text = nested(MAX_JSON_DEPTH + 1);
      const error = rejection(text);
      expect(error.kind).toBe('depth');
      // The field's path (bounded) and the first 24 characters of the top-level field's value.
      expect(error.message).toBe(
        `input.json: ${path} is nested deeper than 64 levels at column ${MAX_JSON_DEPTH * open.length + 1}` +
          ` (${text.slice(open.length, open.length + 24)}...)`,
      );
    }
    // Mixed containers, the reference computed on the tree.
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 60, maxLength: 70 }), (kinds) => {
        let tree: Tree = 0;
        for (const isArray of kinds) tree = isArray ? [tree] : { entries: [['k', tree]] };
        const text = write(tree, false);
        if (depthOf(tree) > MAX_JSON_DEPTH) expect(rejection(text).kind).toBe('depth');
        else expect(parseStrictJson(text, 'x')).toEqual(toValue(tree));
      }),
      { numRuns: 200, seed: 1015 },
    );
  });

  it('rejects 100,000 levels at once, and ignores brackets inside strings', () => {
    expect(rejection('['.repeat(100_000)).kind).toBe('depth');
    expect(rejection(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`).kind).toBe('depth');
    const inString = JSON.stringify({ s: '['.repeat(1000), t: '{"a":1,"a":2}' });
    expect(parseStrictJson(inString, 'x')).toEqual(JSON.parse(inString));
  });

  it('compares keys after unescaping them, and only within one object', () => {
    expect(rejection('{"a": 1, "\\u0061": 2}').message).toBe('input.json: duplicate key "a" at column 10');
    expect(rejection('{"x\\\\": 1, "x\\\\": 2}').message).toBe(
      'input.json: duplicate key "x\\\\" at column 12',
    );
    expect(parseStrictJson('{"a\\"": 1, "a": 2}', 'x')).toEqual({ 'a"': 1, a: 2 });
    expect(parseStrictJson('[{"a": 1}, {"a": 2}]', 'x')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseStrictJson('{"a": {"a": {"a": 1}}, "b": "a"}', 'x')).toEqual({ a: { a: { a: 1 } }, b: 'a' });
    expect(parseStrictJson('{"__proto__": 1}', 'x')).toEqual(JSON.parse('{"__proto__": 1}'));
    expect(rejection('{"__proto__": 1, "__proto__": 2}').kind).toBe('duplicate-key');
  });

  it('syntax errors: line and column where JSON.parse stops, and the parser’s description', () => {
    const cases: Array<[string, string]> = [
      ['{rewards: [1]}', 'column 2'],
      ['{"a": 1,}', 'column 9'],
      ['[1, 2', 'column 6'],
      ['', 'column 1'],
      ['NaN', 'column 1'],
      ['{"a": Infinity}', 'column 7'],
      ['{\n  "a": 1,\n  "b": x\n}', 'line 3, column 8'],
      ['\uFEFF{}', 'column 1'],
    ];
    for (const [text, where] of cases) {
      const error = rejection(text, 'prompts.jsonl line 3');
      expect(error.kind).toBe('syntax');
      expect(error.where).toBe(where);
      expect(error.message).toMatch(
        new RegExp(`^prompts\\.jsonl line 3: not valid JSON at ${where} \\(.+\\)$`),
      );
      expect(error.message).not.toContain('\n');
      expect(error.detail).not.toMatch(/position/);
    }
  });

  it('the position of a syntax error is where JSON.parse reports it, on random broken texts', () => {
    // Valid texts broken by deleting, inserting or replacing one character.
    const broken = fc
      .tuple(
        treeArb.map((tree) => write(tree, true)),
        fc.nat(),
        fc.constantFrom('', 'x', '"', ',', ':', '{', '}', '[', ']', '\\', '-', '.', 'e', '0', '\u0001', ' '),
        fc.boolean(),
      )
      .map(([text, at, insert, replace]) => {
        const k = at % (text.length + 1);
        return text.slice(0, k) + insert + text.slice(replace ? k + 1 : k);
      });
    let compared = 0;
    fc.assert(
      fc.property(broken, (text) => {
        let message = '';
        try {
          JSON.parse(text);
        } catch (error) {
          message = (error as Error).message;
        }
        // The fallback locator agrees with JSON.parse on what is valid.
        expect(syntaxErrorOffset(text) === -1).toBe(message === '');
        if (message === '') return;
        const error = rejection(text);
        if (error.kind !== 'syntax') return;
        const position = /at position (\d+)/.exec(message);
        if (position === null) return;
        compared++;
        const before = text.slice(0, Number(position[1]));
        const line = before.split('\n').length;
        const column = before.length - before.lastIndexOf('\n');
        expect([error.line, error.column]).toEqual([line, column]);
      }),
      { numRuns: 3000, seed: 1016 },
    );
    expect(compared).toBeGreaterThan(1000);
  });

  it('a syntax error wins over a duplicate key, a depth error over both', () => {
    expect(rejection('{"a": 1, "a": 2').kind).toBe('syntax');
    expect(rejection(`{"a": 1, "a": ${'['.repeat(70)}`).kind).toBe('depth');
  });
});
