import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';

const SOURCE = 'model.safetensors';

// ---- helpers that follow the format spec, independently of the module under test ----

function u64le(n: number): number[] {
  const out: number[] = [];
  let rest = BigInt(n);
  for (let i = 0; i < 8; i++) {
    out.push(Number(rest & 0xffn));
    rest >>= 8n;
  }
  return out;
}

function ascii(text: string): number[] {
  return [...text].map((c) => {
    const code = c.charCodeAt(0);
    if (code > 0x7f) throw new Error('test helper only handles ASCII');
    return code;
  });
}

/** A file from a header (string or object, unpadded unless the caller pads) and raw data bytes. */
function buildFile(header: string | object, data: number[] = []): Uint8Array {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const headerBytes = ascii(json);
  return Uint8Array.from([...u64le(headerBytes.length), ...headerBytes, ...data]);
}

function expectCheckpointError(run: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CheckpointError);
  const error = caught as CheckpointError;
  expect(error.name).toBe('CheckpointError');
  expect(error.file).toBe(SOURCE);
  expect(error.message.startsWith(`${SOURCE}: `)).toBe(true);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
}

function bytesOf(data: NamedTensor['data']): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function randomTensor(rng: Rng, dtype: NamedTensor['dtype'], shape: number[]): NamedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = Array.from({ length: n }, () => rng.normal() * 1000);
  switch (dtype) {
    case 'F32':
      return { dtype, shape, data: Float32Array.from(values) };
    case 'F64':
      return { dtype, shape, data: Float64Array.from(values) };
    case 'I32':
      return { dtype, shape, data: Int32Array.from(values, () => rng.nextUint32() | 0) };
    case 'U8':
      return { dtype, shape, data: Uint8Array.from(values, () => rng.int(256)) };
  }
}

/** A copy of `bytes` starting at an odd address inside a larger buffer, to exercise unaligned input. */
function unaligned(bytes: Uint8Array): Uint8Array {
  const backing = new Uint8Array(bytes.length + 3);
  backing.set(bytes, 1);
  return backing.subarray(1, 1 + bytes.length);
}

describe('safetensors round trip', () => {
  it('returns every dtype, shape (scalars and empty tensors too) and value bit for bit, from unaligned input', () => {
    const rng = new Rng(7);
    const dtypes: NamedTensor['dtype'][] = ['F32', 'F64', 'I32', 'U8'];
    const shapes = [[], [0], [1], [3], [2, 3], [3, 0, 2], [2, 1, 3, 2], [5, 7]];
    for (let trial = 0; trial < 20; trial++) {
      const tensors: Record<string, NamedTensor> = {};
      const count = 1 + rng.int(8);
      for (let i = 0; i < count; i++) {
        const dtype = dtypes[rng.int(dtypes.length)];
        tensors[`t${trial}.${i}.${dtype}`] = randomTensor(rng, dtype, shapes[rng.int(shapes.length)]);
      }
      const metadata = trial % 2 === 0 ? { format: 'pt', trial: String(trial) } : undefined;
      const bytes = encodeSafetensors(tensors, metadata);
      const decoded = decodeSafetensors(unaligned(bytes), SOURCE);

      expect(Object.keys(decoded.tensors).sort()).toEqual(Object.keys(tensors).sort());
      expect(decoded.metadata).toEqual(metadata ?? {});
      for (const [name, tensor] of Object.entries(tensors)) {
        const got = decoded.tensors[name];
        expect(got.dtype).toBe(tensor.dtype);
        expect(got.shape).toEqual(tensor.shape);
        expect(got.data.constructor).toBe(tensor.data.constructor);
        expect(got.data.byteOffset % got.data.BYTES_PER_ELEMENT).toBe(0);
        expect(bytesOf(got.data)).toEqual(bytesOf(tensor.data));
      }
    }
  });

  it('keeps special float values (NaN, -0, Infinity) exactly', () => {
    const values = [Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-310, 3.4e38];
    const tensors: Record<string, NamedTensor> = {
      f32: { dtype: 'F32', shape: [values.length], data: Float32Array.from(values) },
      f64: { dtype: 'F64', shape: [values.length], data: Float64Array.from(values) },
    };
    const decoded = decodeSafetensors(encodeSafetensors(tensors), SOURCE);
    for (const name of ['f32', 'f64']) {
      expect(bytesOf(decoded.tensors[name].data)).toEqual(bytesOf(tensors[name].data));
      expect(Object.is(decoded.tensors[name].data[1], -0)).toBe(true);
    }
  });

  it('encodes typed arrays that are views into a larger buffer', () => {
    const backing = new Float32Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    const decoded = decodeSafetensors(
      encodeSafetensors({ v: { dtype: 'F32', shape: [3], data: view } }),
      SOURCE,
    );
    expect(Array.from(decoded.tensors.v.data)).toEqual([1, 2, 3]);
  });

  it('handles names that are special in JavaScript objects or need escaping', () => {
    const names = ['__proto__', 'constructor', '0', '10', 'a"b\\c', 'unicodé ✓', ''];
    const tensors: Record<string, NamedTensor> = {};
    names.forEach((name, i) => {
      Object.defineProperty(tensors, name, {
        value: { dtype: 'I32', shape: [1], data: Int32Array.of(i) },
        enumerable: true,
      });
    });
    const decoded = decodeSafetensors(encodeSafetensors(tensors), SOURCE);
    expect(Object.keys(decoded.tensors).sort()).toEqual([...names].sort());
    names.forEach((name, i) => {
      expect(Object.hasOwn(decoded.tensors, name)).toBe(true);
      expect(Array.from(decoded.tensors[name].data)).toEqual([i]);
    });
  });

  it('writes a header whose length is a multiple of 8 and lays tensors out without holes, aligned', () => {
    const rng = new Rng(3);
    const tensors: Record<string, NamedTensor> = {
      a_u8: randomTensor(rng, 'U8', [3]),
      b_f64: randomTensor(rng, 'F64', [2]),
      c_i32: randomTensor(rng, 'I32', [1]),
      d_u8: randomTensor(rng, 'U8', [2]),
      e_f32: randomTensor(rng, 'F32', [3]),
    };
    const bytes = encodeSafetensors(tensors);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
      string,
      { dtype: string; data_offsets: [number, number] }
    >;
    const placed = Object.entries(header).sort(([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0]);
    let end = 0;
    for (const [name, info] of placed) {
      expect(info.data_offsets[0]).toBe(end);
      const elementSize = tensors[name].data.BYTES_PER_ELEMENT;
      expect((8 + n + info.data_offsets[0]) % elementSize).toBe(0);
      end = info.data_offsets[1];
    }
    expect(8 + n + end).toBe(bytes.length);
  });
});

describe('safetensors byte layout, checked against a hand-built file', () => {
  // Layout by hand from the spec: the F64 tensor first (largest element size), then I32 "a" and F32
  // "b" (same size, by name), then U8 "c". Offsets: z [0, 8], a [8, 12], b [12, 20], c [20, 23].
  const headerJson =
    '{"__metadata__":{"format":"pt"},' +
    '"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
    '"a":{"dtype":"I32","shape":[],"data_offsets":[8,12]},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},' +
    '"c":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}';
  const padded = headerJson + ' '.repeat((8 - (headerJson.length % 8)) % 8);
  const data = [
    ...[0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f], // 1.0 as F64: 0x3FF0000000000000
    ...[0xf9, 0xff, 0xff, 0xff], // -7 as I32: 0xFFFFFFF9
    ...[0x00, 0x00, 0xc0, 0x3f], // 1.5 as F32: 0x3FC00000
    ...[0x00, 0x00, 0x00, 0xc0], // -2 as F32: 0xC0000000
    ...[0x01, 0x80, 0xff], // U8 1, 128, 255
  ];
  const expected = Uint8Array.from([...u64le(padded.length), ...ascii(padded), ...data]);

  it('pads the hand-built header to a multiple of 8 (sanity of the fixture)', () => {
    expect(padded.length % 8).toBe(0);
    expect(padded.length).toBeGreaterThan(headerJson.length);
  });

  it('encodes to exactly those bytes', () => {
    const bytes = encodeSafetensors(
      {
        c: { dtype: 'U8', shape: [3], data: Uint8Array.of(1, 128, 255) },
        b: { dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) },
        z: { dtype: 'F64', shape: [1], data: Float64Array.of(1) },
        a: { dtype: 'I32', shape: [], data: Int32Array.of(-7) },
      },
      { format: 'pt' },
    );
    expect(Array.from(bytes)).toEqual(Array.from(expected));
  });

  it('decodes those bytes to the values', () => {
    const { tensors, metadata } = decodeSafetensors(expected, SOURCE);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.z).toEqual({ dtype: 'F64', shape: [1], data: Float64Array.of(1) });
    expect(tensors.a).toEqual({ dtype: 'I32', shape: [], data: Int32Array.of(-7) });
    expect(tensors.b).toEqual({ dtype: 'F32', shape: [2], data: Float32Array.of(1.5, -2) });
    expect(tensors.c).toEqual({ dtype: 'U8', shape: [3], data: Uint8Array.of(1, 128, 255) });
  });

  it('decodes a file in another writer’s layout: no padding, misaligned F64, order not by size', () => {
    // U8 [2] at [0, 2], then F64 at [2, 10]: misaligned relative to both the file and the data section.
    const file = buildFile(
      {
        w: { dtype: 'F64', shape: [], data_offsets: [2, 10] },
        u: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
      },
      [0x07, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc0], // -2.5 = 0xC004000000000000
    );
    const { tensors, metadata } = decodeSafetensors(file, SOURCE);
    expect(metadata).toEqual({});
    expect(Array.from(tensors.u.data)).toEqual([7, 9]);
    expect(tensors.w.data).toBeInstanceOf(Float64Array);
    expect(Array.from(tensors.w.data)).toEqual([-2.5]);
  });
});

describe('safetensors validation', () => {
  const f32 = (offsets: [number, number], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: offsets });

  it('rejects a file shorter than the 8-byte length prefix', () => {
    expectCheckpointError(() => decodeSafetensors(new Uint8Array(0), SOURCE), '0 bytes', '8-byte');
    expectCheckpointError(() => decodeSafetensors(new Uint8Array(7), SOURCE), '7 bytes');
  });

  it('rejects a header length larger than the file', () => {
    const file = Uint8Array.from([...u64le(100), ...ascii('{}')]);
    expectCheckpointError(() => decodeSafetensors(file, SOURCE), 'header length 100', '2 bytes');
    const huge = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x80, ...ascii('{}')]);
    expectCheckpointError(() => decodeSafetensors(huge, SOURCE), `header length ${2n ** 63n}`);
  });

  it('rejects a header that is not UTF-8, not JSON, or not an object', () => {
    const notUtf8 = Uint8Array.from([...u64le(4), 0x7b, 0xff, 0xfe, 0x7d]);
    expectCheckpointError(() => decodeSafetensors(notUtf8, SOURCE), 'not valid UTF-8');
    expectCheckpointError(() => decodeSafetensors(buildFile('{"a":'), SOURCE), 'not valid JSON');
    expectCheckpointError(() => decodeSafetensors(buildFile(''), SOURCE), 'not valid JSON');
    const withBom = Uint8Array.from([...u64le(5), 0xef, 0xbb, 0xbf, ...ascii('{}')]);
    expectCheckpointError(() => decodeSafetensors(withBom, SOURCE), 'not valid JSON');
    expectCheckpointError(
      () => decodeSafetensors(buildFile('[1,2]'), SOURCE),
      'must be a JSON object',
      '[1,2]',
    );
    expectCheckpointError(
      () => decodeSafetensors(buildFile('null'), SOURCE),
      'must be a JSON object',
      'null',
    );
  });

  it('rejects an entry that is not an object or lacks dtype, shape or data_offsets', () => {
    expectCheckpointError(
      () => decodeSafetensors(buildFile({ w: 5 }), SOURCE),
      'tensor "w" must be an object',
      '5',
    );
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      const entry: Record<string, unknown> = f32([0, 8]);
      delete entry[field];
      expectCheckpointError(
        () => decodeSafetensors(buildFile({ w: entry }, new Array(8).fill(0)), SOURCE),
        `tensor "w" has no "${field}" field`,
      );
    }
  });

  it('rejects unknown and unsupported dtypes, naming them', () => {
    const unknown = buildFile(
      { w: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } },
      new Array(8).fill(0),
    );
    expectCheckpointError(
      () => decodeSafetensors(unknown, SOURCE),
      'tensor "w"',
      'unknown dtype "F33"',
      'F32',
    );
    const nonString = buildFile({ w: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, new Array(8).fill(0));
    expectCheckpointError(() => decodeSafetensors(nonString, SOURCE), 'unknown dtype 4');
    const bf16 = buildFile({ w: { dtype: 'BF16', shape: [4], data_offsets: [0, 8] } }, new Array(8).fill(0));
    expectCheckpointError(
      () => decodeSafetensors(bf16, SOURCE),
      'tensor "w" has dtype "BF16"',
      'does not support',
    );
  });

  it('rejects malformed shapes and offsets', () => {
    const zeros = new Array(8).fill(0);
    for (const shape of [[-1], [1.5], 'x', [2, null]]) {
      const file = buildFile({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, zeros);
      expectCheckpointError(
        () => decodeSafetensors(file, SOURCE),
        'tensor "w" has shape',
        JSON.stringify(shape),
      );
    }
    for (const offsets of [[0], [0, 8, 9], [-8, 0], [0, 'x'], [0.5, 8.5], 'x']) {
      const file = buildFile({ w: { dtype: 'F32', shape: [2], data_offsets: offsets } }, zeros);
      expectCheckpointError(
        () => decodeSafetensors(file, SOURCE),
        'tensor "w" has data_offsets',
        JSON.stringify(offsets),
      );
    }
    const reversed = buildFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, zeros);
    expectCheckpointError(() => decodeSafetensors(reversed, SOURCE), '[8, 0]', 'begin is after its end');
  });

  it('rejects a byte length that does not match shape and dtype, with the message from the brief', () => {
    const file = buildFile(
      { wte: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } },
      new Array(12).fill(0),
    );
    let message = '';
    try {
      decodeSafetensors(file, SOURCE);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      'model.safetensors: tensor "wte" has data_offsets [0, 12] but shape [2, 2] of F32 needs 16 bytes',
    );
  });

  it('rejects offsets past the end of the data section', () => {
    const file = buildFile({ w: f32([0, 8]) }, new Array(6).fill(0));
    expectCheckpointError(
      () => decodeSafetensors(file, SOURCE),
      'tensor "w"',
      '[0, 8]',
      '6-byte data section',
    );
  });

  it('rejects overlapping tensors', () => {
    const file = buildFile({ a: f32([0, 8]), b: f32([4, 12]) }, new Array(12).fill(0));
    expectCheckpointError(
      () => decodeSafetensors(file, SOURCE),
      'tensor "b"',
      '[4, 12]',
      'overlaps tensor "a"',
    );
    const same = buildFile({ a: f32([0, 8]), b: f32([0, 8]) }, new Array(8).fill(0));
    expectCheckpointError(() => decodeSafetensors(same, SOURCE), 'overlaps');
    const emptyInside = buildFile({ a: f32([0, 8]), e: f32([4, 4], [0]) }, new Array(8).fill(0));
    expectCheckpointError(() => decodeSafetensors(emptyInside, SOURCE), 'tensor "e"', 'overlaps tensor "a"');
  });

  it('rejects holes at the start, between tensors and at the end', () => {
    const atStart = buildFile({ a: f32([4, 12]) }, new Array(12).fill(0));
    expectCheckpointError(
      () => decodeSafetensors(atStart, SOURCE),
      'bytes [0, 4)',
      'belong to no tensor',
      '"a"',
    );
    const between = buildFile({ a: f32([0, 8]), b: f32([12, 20]) }, new Array(20).fill(0));
    expectCheckpointError(
      () => decodeSafetensors(between, SOURCE),
      'bytes [8, 12)',
      'hole before tensor "b"',
    );
    const atEnd = buildFile({ a: f32([0, 8]) }, new Array(11).fill(0));
    expectCheckpointError(() => decodeSafetensors(atEnd, SOURCE), 'bytes [8, 11)', 'end of the data section');
    const onlyData = buildFile({}, [1]);
    expectCheckpointError(() => decodeSafetensors(onlyData, SOURCE), 'bytes [0, 1)');
  });

  it('accepts empty tensors at a boundary and an empty file with only a header', () => {
    const file = buildFile(
      { a: f32([0, 8]), e: f32([8, 8], [0, 3]), s: f32([0, 0], [2, 0]) },
      new Array(8).fill(0),
    );
    const { tensors } = decodeSafetensors(file, SOURCE);
    expect(tensors.e.shape).toEqual([0, 3]);
    expect(tensors.e.data.length).toBe(0);
    expect(tensors.s.data.length).toBe(0);
    expect(decodeSafetensors(buildFile({}), SOURCE)).toEqual({ tensors: {}, metadata: {} });
  });

  it('rejects metadata that is not an object of strings', () => {
    const badValue = buildFile({ __metadata__: { format: 'pt', step: 3 } });
    expectCheckpointError(
      () => decodeSafetensors(badValue, SOURCE),
      '__metadata__["step"]',
      'must be a string',
      '3',
    );
    const badObject = buildFile({ __metadata__: ['pt'] });
    expectCheckpointError(
      () => decodeSafetensors(badObject, SOURCE),
      '__metadata__ must be an object',
      '["pt"]',
    );
  });

  it('rejects every truncation of a valid file', () => {
    const rng = new Rng(11);
    const bytes = encodeSafetensors(
      { w: randomTensor(rng, 'F32', [3, 2]), b: randomTensor(rng, 'U8', [5]) },
      { note: 'x' },
    );
    const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    for (let length = 0; length < bytes.length; length++) {
      const cut = bytes.slice(0, length);
      if (length < 8) expectCheckpointError(() => decodeSafetensors(cut, SOURCE), 'shorter than the 8-byte');
      else if (length < headerEnd)
        expectCheckpointError(() => decodeSafetensors(cut, SOURCE), 'header length');
      else expectCheckpointError(() => decodeSafetensors(cut, SOURCE), 'past the end of the');
    }
  });

  it('refuses to encode inconsistent tensors', () => {
    expect(() =>
      encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } }),
    ).toThrow(/tensor "w" has 5 elements but shape \[2, 3\] needs 6/);
    expect(() => encodeSafetensors({ w: { dtype: 'F64', shape: [2], data: new Float32Array(2) } })).toThrow(
      /dtype F64 but its data is a Float32Array/,
    );
    expect(() => encodeSafetensors({ w: { dtype: 'F32', shape: [-2], data: new Float32Array(0) } })).toThrow(
      /shape \[-2\]/,
    );
    expect(() =>
      encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }),
    ).toThrow(/reserved/);
    expect(() => encodeSafetensors({}, { step: 3 as unknown as string })).toThrow(
      /metadata\["step"\] must be a string/,
    );
  });
});

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

// Reads a safetensors file as the format spec describes, with only json, struct and numpy.
const PYTHON_READER = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
header = json.loads(raw[8:8 + n].decode('utf-8'))
metadata = header.pop('__metadata__', {})
data = raw[8 + n:]
kinds = {'F32': '<f4', 'F64': '<f8', 'I32': '<i4', 'U8': 'u1'}
spans = sorted(tuple(t['data_offsets']) for t in header.values())
assert [b for b, _ in spans] == [0] + [e for _, e in spans[:-1]] and spans[-1][1] == len(data), spans
out = {}
for name, t in header.items():
    begin, end = t['data_offsets']
    array = np.frombuffer(data[begin:end], dtype=kinds[t['dtype']]).reshape(t['shape'])
    out[name] = {'dtype': t['dtype'], 'shape': list(array.shape), 'values': array.ravel().tolist()}
print(json.dumps({'metadata': metadata, 'aligned': (8 + n) % 8 == 0, 'tensors': out}))
`;

describe('safetensors interoperability', () => {
  it.skipIf(!hasNumpy)(
    'a file we write is read correctly by a numpy reader (skipped when numpy is missing)',
    () => {
      const rng = new Rng(5);
      const tensors: Record<string, NamedTensor> = {
        'wte.weight': randomTensor(rng, 'F32', [4, 3]),
        'head.bias': randomTensor(rng, 'F64', [3]),
        step: { dtype: 'I32', shape: [], data: Int32Array.of(-123456) },
        mask: randomTensor(rng, 'U8', [2, 2, 2]),
        empty: { dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
      };
      const metadata = { format: 'pt', note: 'grpovi ✓' };
      const dir = mkdtempSync(join(tmpdir(), 'grpovi-safetensors-'));
      try {
        const path = join(dir, 'model.safetensors');
        writeFileSync(path, encodeSafetensors(tensors, metadata));
        const run = spawnSync('python3', ['-c', PYTHON_READER, path], { encoding: 'utf-8' });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        const result = JSON.parse(run.stdout) as {
          metadata: Record<string, string>;
          aligned: boolean;
          tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
        };
        expect(result.metadata).toEqual(metadata);
        expect(result.aligned).toBe(true);
        expect(Object.keys(result.tensors).sort()).toEqual(Object.keys(tensors).sort());
        for (const [name, tensor] of Object.entries(tensors)) {
          expect(result.tensors[name].dtype).toBe(tensor.dtype);
          expect(result.tensors[name].shape).toEqual(tensor.shape);
          // Python prints floats with repr, which round-trips doubles exactly (and float32 widened to double).
          expect(result.tensors[name].values).toEqual(Array.from(tensor.data));
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
