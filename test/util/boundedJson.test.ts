import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { describeValue, jsonProblem, readJsonFile, StrictJsonError } from '../../src/util/boundedJson.js';

const dir = mkdtempSync(join(tmpdir(), 'grpovi-bounded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An array nested `levels` deep around `inner`, built without recursion. */
function nested(levels: number, inner: unknown = 0): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

describe('describeValue', () => {
  it('equals JSON.stringify for small JSON values, and types stay unambiguous', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const json = JSON.stringify(value);
        if (json.length <= 80) expect(describeValue(value)).toBe(json);
        else expect(describeValue(value)).toBe(`${json.slice(0, 77)}...`);
      }),
    );
    expect(describeValue('1')).toBe('"1"');
    expect(describeValue(1)).toBe('1');
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(-Infinity)).toBe('-Infinity');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(12n)).toBe('12n');
    expect(describeValue({ a: [1, 'x'] })).toBe('{"a":[1,"x"]}');
  });

  it('stays within its limit and never overflows the stack, whatever the depth or size', () => {
    for (const value of [
      nested(100_000),
      new Array(1_000_000).fill(7),
      'x'.repeat(1_000_000),
      { k: nested(5000) },
    ]) {
      const text = describeValue(value);
      expect(text.length).toBeLessThanOrEqual(80);
    }
    expect(describeValue(nested(5000))).toBe('[[[[[[[...]]]]]]]');
    expect(describeValue(new Array(100).fill(1))).toBe(`[${'1,'.repeat(38)}...`);
    expect(describeValue(new Array(100).fill(1))).toHaveLength(80);
    expect(describeValue('x'.repeat(200), 10)).toBe('"xxxxxx...');
  });
});

describe('readJsonFile', () => {
  it('reads a file, and refuses one nested too deep naming the field and quoting its start', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, '{"a": [1, 2]}');
    expect(readJsonFile(good)).toEqual({ a: [1, 2] });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, `{"a": {"b": ${'['.repeat(5000)}${']'.repeat(5000)}}}`);
    let error: unknown;
    try {
      readJsonFile(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StrictJsonError);
    expect((error as Error).message).toBe(
      `${bad}: a.b[0][0]... is nested deeper than 64 levels at column 75 ({"b": [[[[[[[[[[[[[[[[[[...)`,
    );
    expect(jsonProblem(error)).toBe(
      'a.b[0][0]... is nested deeper than 64 levels at column 75 ({"b": [[[[[[[[[[[[[[[[[[...)',
    );
    writeFileSync(bad, '{"a": 1,}');
    try {
      readJsonFile(bad);
    } catch (e) {
      expect(jsonProblem(e)).toMatch(/^is not valid JSON at column 9 \(/);
    }
  });
});
