import { mkdtempSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../src/nn/weights/safetensors.js';
import { openSafetensorsFile } from '../../src/nn/weights/safetensorsFile.js';
import { Rng } from '../../src/util/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'grpovi-safetensors-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bytesOf(data: NamedTensor['data']): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A safetensors file with a hand-written header (for half floats, which the encoder does not write). */
function rawFile(header: object, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

function caught(run: () => unknown): CheckpointError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('safetensors files read one tensor at a time', () => {
  it('give the tensors and metadata decodeSafetensors gives, every dtype, each read a fresh array', () => {
    const rng = new Rng(1);
    const tensors: Record<string, NamedTensor> = {
      a: { dtype: 'F32', shape: [3, 5], data: Float32Array.from({ length: 15 }, () => rng.normal()) },
      b: { dtype: 'F64', shape: [4], data: Float64Array.from({ length: 4 }, () => rng.normal()) },
      c: { dtype: 'I32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 1 << 30]) },
      d: { dtype: 'U8', shape: [3], data: Uint8Array.from([0, 7, 255]) },
      e: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const path = join(dir, 'all.safetensors');
    writeFileSync(path, bytes);
    const expected = decodeSafetensors(bytes, path);
    const opened = openSafetensorsFile(path);
    expect(opened.metadata).toEqual(expected.metadata);
    expect(Object.keys(opened.tensors).sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, tensor] of Object.entries(expected.tensors)) {
      const got = opened.tensors[name];
      expect(got.dtype).toBe(tensor.dtype);
      expect(got.shape).toEqual(tensor.shape);
      expect(got.data.constructor).toBe(tensor.data.constructor);
      expect(bytesOf(got.data).equals(bytesOf(tensor.data))).toBe(true);
      expect(got.data).not.toBe(got.data);
    }
  });

  it('widen F16 and BF16 to the F32 values decodeSafetensors gives', () => {
    const half = Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]); // 1, -2, 2^-24, inf
    const brain = Uint8Array.from([0x80, 0x3f, 0x49, 0x40]); // 1, 3.140625
    const bytes = rawFile(
      {
        h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
        g: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
      },
      Uint8Array.from([...half, ...brain]),
    );
    const path = join(dir, 'half.safetensors');
    writeFileSync(path, bytes);
    const expected = decodeSafetensors(bytes, path, { widenHalfFloats: true }).tensors;
    const opened = openSafetensorsFile(path, { widenHalfFloats: true }).tensors;
    for (const name of ['h', 'g']) {
      expect(opened[name].dtype).toBe('F32');
      expect(Array.from(opened[name].data)).toEqual(Array.from(expected[name].data));
    }
    expect(Array.from(opened.h.data)).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(() => openSafetensorsFile(path)).toThrow(/has dtype "F16", which this reader does not support/);
  });

  it('refuse a missing, truncated or changed file with a CheckpointError naming it', () => {
    const missing = join(dir, 'missing.safetensors');
    expect(caught(() => openSafetensorsFile(missing)).message).toBe(`${missing}: file not found`);

    const data: Record<string, NamedTensor> = {
      w: { dtype: 'F32', shape: [8], data: Float32Array.from({ length: 8 }, (_, i) => i) },
    };
    const bytes = encodeSafetensors(data);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 4));
    const decodeError = caught(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4), truncated));
    expect(caught(() => openSafetensorsFile(truncated)).message).toBe(decodeError.message);
    const short = join(dir, 'short.safetensors');
    writeFileSync(short, bytes.subarray(0, 5));
    expect(caught(() => openSafetensorsFile(short)).message).toContain(
      'shorter than the 8-byte header length prefix',
    );

    const changed = join(dir, 'changed.safetensors');
    writeFileSync(changed, bytes);
    const opened = openSafetensorsFile(changed);
    truncateSync(changed, bytes.length - 4);
    utimesSync(changed, new Date(0), new Date(0));
    const error = caught(() => opened.tensors.w.data);
    expect(error.file).toBe(changed);
    expect(error.message).toContain('changed after its header was read');
  });
});
