/**
 * The safetensors file format, bytes in and bytes out (no file system, no TF.js), so that checkpoints
 * can be read by the Python `safetensors` library and others.
 *
 * Layout: an 8-byte little-endian unsigned 64-bit header length N; N bytes of UTF-8 JSON (padded with
 * spaces so that the data section starts at a multiple of 8); then the data section. The header maps
 * each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to the start
 * of the data section) plus an optional `"__metadata__"` object of string values. Data is little-endian
 * and row-major; tensors tile the data section exactly, without holes or overlaps.
 *
 * Writing order: tensors are laid out by element size, largest first, then by name (UTF-16 code unit
 * order). Because the data section starts at a multiple of 8 and element sizes are powers of two, every
 * tensor then starts at a multiple of its own element size, which readers that map the file need. The
 * header lists `__metadata__` first (when given), then the tensors in that same order, each with its
 * fields in the order dtype, shape, data_offsets, and no whitespace except the padding.
 */
import { CheckpointError, describeJsonValue } from './checkpointError.js';
import { jsonProblem, parseJson } from '../../util/jsonText.js';

/** The dtypes this module reads and writes. */
export type SafetensorsDtype = 'F32' | 'F64' | 'I32' | 'U8';

export type TensorData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface NamedTensor {
  dtype: SafetensorsDtype;
  /** Row-major shape; `[]` is a scalar (one element), any 0 makes an empty tensor. */
  shape: number[];
  data: TensorData;
}

export interface DecodedSafetensors {
  tensors: Record<string, NamedTensor>;
  metadata: Record<string, string>;
}

interface DtypeInfo {
  bytes: number;
  create(length: number): TensorData;
  matches(data: TensorData): boolean;
  read(view: DataView, byteOffset: number): number;
  write(view: DataView, byteOffset: number, value: number): void;
}

const DTYPES: Record<SafetensorsDtype, DtypeInfo> = {
  F64: {
    bytes: 8,
    create: (n) => new Float64Array(n),
    matches: (d) => d instanceof Float64Array,
    read: (v, o) => v.getFloat64(o, true),
    write: (v, o, x) => v.setFloat64(o, x, true),
  },
  F32: {
    bytes: 4,
    create: (n) => new Float32Array(n),
    matches: (d) => d instanceof Float32Array,
    read: (v, o) => v.getFloat32(o, true),
    write: (v, o, x) => v.setFloat32(o, x, true),
  },
  I32: {
    bytes: 4,
    create: (n) => new Int32Array(n),
    matches: (d) => d instanceof Int32Array,
    read: (v, o) => v.getInt32(o, true),
    write: (v, o, x) => v.setInt32(o, x, true),
  },
  U8: {
    bytes: 1,
    create: (n) => new Uint8Array(n),
    matches: (d) => d instanceof Uint8Array,
    read: (v, o) => v.getUint8(o),
    write: (v, o, x) => v.setUint8(o, x),
  },
};

const SUPPORTED = Object.keys(DTYPES).join(', ');

/** Dtypes the format defines that this module does not handle, to tell "unsupported" from "unknown". */
const OTHER_FORMAT_DTYPES = new Set([
  'BOOL',
  'I8',
  'I16',
  'U16',
  'F16',
  'BF16',
  'U32',
  'I64',
  'U64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'C64',
]);

const METADATA_KEY = '__metadata__';

/** Typed arrays use the host's byte order; on a little-endian host (all usual ones) a byte copy is exact. */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, d) => product * d, 1);
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Copies little-endian bytes into a fresh, aligned typed array of the dtype. */
function bytesToTyped(dtype: SafetensorsDtype, bytes: Uint8Array, count: number): TensorData {
  const info = DTYPES[dtype];
  const out = info.create(count);
  if (HOST_IS_LITTLE_ENDIAN || info.bytes === 1) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) out[i] = info.read(view, i * info.bytes);
  }
  return out;
}

/** Writes a typed array as little-endian bytes into `target` at `byteOffset`. */
function typedToBytes(
  dtype: SafetensorsDtype,
  data: TensorData,
  target: Uint8Array,
  byteOffset: number,
): void {
  const info = DTYPES[dtype];
  if (HOST_IS_LITTLE_ENDIAN || info.bytes === 1) {
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), byteOffset);
  } else {
    const view = new DataView(target.buffer, target.byteOffset + byteOffset, data.byteLength);
    for (let i = 0; i < data.length; i++) info.write(view, i * info.bytes, data[i]);
  }
}

function checkTensorForEncoding(name: string, tensor: NamedTensor): void {
  if (name === METADATA_KEY) throw new RangeError(`tensor name "${METADATA_KEY}" is reserved for metadata`);
  if (!isDtype(tensor.dtype)) {
    throw new RangeError(
      `tensor "${name}" has unsupported dtype ${describeJsonValue(tensor.dtype)} (supported: ${SUPPORTED})`,
    );
  }
  if (!isShape(tensor.shape)) {
    throw new RangeError(
      `tensor "${name}" has shape ${describeJsonValue(tensor.shape)}; it must be an array of non-negative integers`,
    );
  }
  if (!DTYPES[tensor.dtype].matches(tensor.data)) {
    const got = (tensor.data as object | undefined)?.constructor?.name ?? String(tensor.data);
    throw new TypeError(`tensor "${name}" has dtype ${tensor.dtype} but its data is a ${got}`);
  }
  const count = elementCount(tensor.shape);
  if (tensor.data.length !== count) {
    throw new RangeError(
      `tensor "${name}" has ${tensor.data.length} elements but shape ${formatShape(tensor.shape)} needs ${count}`,
    );
  }
}

/**
 * Serializes tensors (and optional string metadata) into safetensors bytes. See the module comment for
 * the layout. Throws RangeError/TypeError when a tensor is inconsistent (dtype vs typed array, element
 * count vs shape) or when a name is `__metadata__`.
 */
export function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Object.entries(tensors);
  for (const [name, tensor] of entries) checkTensorForEncoding(name, tensor);
  entries.sort(
    ([nameA, a], [nameB, b]) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || compareNames(nameA, nameB),
  );

  // The header is written by hand rather than with JSON.stringify on an object, because objects move
  // integer-like keys ("0", "12") to the front; the header should list tensors in buffer order.
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    const metadataParts: string[] = [];
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new TypeError(`metadata["${key}"] must be a string (${describeJsonValue(value)})`);
      }
      metadataParts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
    }
    headerParts.push(`${JSON.stringify(METADATA_KEY)}:{${metadataParts.join(',')}}`);
  }
  const placements: { tensor: NamedTensor; begin: number }[] = [];
  let dataLength = 0;
  for (const [name, tensor] of entries) {
    const begin = dataLength;
    dataLength += tensor.data.byteLength;
    placements.push({ tensor, begin });
    const info = `{"dtype":"${tensor.dtype}","shape":${JSON.stringify(tensor.shape)},"data_offsets":[${begin},${dataLength}]}`;
    headerParts.push(`${JSON.stringify(name)}:${info}`);
  }
  const headerJson = new TextEncoder().encode(`{${headerParts.join(',')}}`);
  const headerLength = Math.ceil(headerJson.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(headerJson, 8);
  out.fill(0x20, 8 + headerJson.length, 8 + headerLength);
  const dataStart = 8 + headerLength;
  for (const { tensor, begin } of placements) typedToBytes(tensor.dtype, tensor.data, out, dataStart + begin);
  return out;
}

/** 16-bit float dtypes that `decodeSafetensors` widens to F32 when asked (Hugging Face checkpoints). */
export type HalfDtype = 'F16' | 'BF16';

export interface DecodeOptions {
  /** Read F16 and BF16 tensors, returned as exact F32 values (default: refuse them). */
  widenHalfFloats?: boolean;
}

/**
 * Parses safetensors bytes. `source` (a path or label) starts every error message. Validates strictly:
 * header length, UTF-8, JSON, every entry's dtype/shape/data_offsets, the byte length of each tensor, that
 * tensors tile the data section without holes or overlaps, and that metadata values are strings.
 * Returns fresh, aligned typed arrays (the input may be unaligned). Unknown extra fields inside a tensor
 * entry are ignored.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source: string,
  options: DecodeOptions = {},
): DecodedSafetensors {
  const layout = parseSafetensorsLayout(bytes, bytes.length, source, options);
  const data = bytes.subarray(layout.dataStart);
  const tensors = Object.fromEntries(
    layout.entries.map((e): [string, NamedTensor] => [
      e.name,
      { dtype: storedDtype(e), shape: e.shape, data: entryData(e, data.subarray(e.begin, e.end)) },
    ]),
  );
  return { tensors, metadata: layout.metadata };
}

/** One tensor of a safetensors header: its dtype in the file and its bytes in the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype | HalfDtype;
  shape: number[];
  /** Byte offsets in the data section, end exclusive. */
  begin: number;
  end: number;
}

/** A validated header: where the data section starts in the file, and its tensors and metadata. */
export interface SafetensorsLayout {
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

/** The byte length of the header that `prefix` (at least the file's first 8 bytes) announces. */
export function safetensorsHeaderLength(prefix: Uint8Array, byteLength: number, source: string): number {
  if (byteLength < 8 || prefix.length < 8) {
    throw new CheckpointError(
      source,
      `file is ${byteLength} bytes long, shorter than the 8-byte header length prefix`,
    );
  }
  const headerLengthBig = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLengthBig > BigInt(byteLength - 8)) {
    throw new CheckpointError(
      source,
      `header length ${headerLengthBig} is larger than the ${byteLength - 8} bytes that follow the length prefix (truncated or not a safetensors file?)`,
    );
  }
  return Number(headerLengthBig);
}

/**
 * Validates the header of a safetensors file of `byteLength` bytes from its first bytes `prefix`
 * (the length prefix and the whole header; the data section need not be there), as
 * `decodeSafetensors` does, without reading any tensor: readers that fetch tensors one at a time
 * (safetensorsFile.ts) start here.
 */
export function parseSafetensorsLayout(
  prefix: Uint8Array,
  byteLength: number,
  source: string,
  options: DecodeOptions = {},
): SafetensorsLayout {
  const fail = (problem: string): never => {
    throw new CheckpointError(source, problem);
  };
  const headerLength = safetensorsHeaderLength(prefix, byteLength, source);
  const dataStart = 8 + headerLength;

  let headerText = '';
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse rejects it as other readers do.
    headerText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      prefix.subarray(8, dataStart),
    );
  } catch {
    fail(`header (bytes 8 to ${dataStart}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    // Bounded: a header nested thousands deep is refused before anything walks it.
    header = parseJson(headerText, 'header');
  } catch (error) {
    fail(`header ${jsonProblem(error)}`);
  }
  if (!isPlainObject(header)) {
    fail(`header must be a JSON object mapping tensor names to entries (got ${describeJsonValue(header)})`);
  }
  const headerObject = header as Record<string, unknown>;
  const dataLength = byteLength - dataStart;

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(headerObject)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(value, fail);
    } else {
      entries.push(parseEntry(name, value, dataLength, fail, options.widenHalfFloats === true));
    }
  }
  checkTiling(entries, dataLength, fail);
  return { dataStart, entries, metadata };
}

/** The dtype a tensor is returned as (half floats are widened to F32). */
export function storedDtype(entry: SafetensorsEntry): SafetensorsDtype {
  return entry.dtype === 'F16' || entry.dtype === 'BF16' ? 'F32' : entry.dtype;
}

/** A tensor's values from its bytes in the data section (fresh and aligned; half floats widened). */
export function entryData(entry: SafetensorsEntry, bytes: Uint8Array): TensorData {
  const count = elementCount(entry.shape);
  return entry.dtype === 'F16' || entry.dtype === 'BF16'
    ? widenHalf(entry.dtype, bytes, count)
    : bytesToTyped(entry.dtype, bytes, count);
}

/**
 * A fresh, aligned typed array for a tensor whose file bytes can be copied in as they are (a
 * little-endian host, not a half float), so a reader can fill it straight from the file; else
 * undefined (read the bytes, then `entryData`).
 */
export function directTarget(entry: SafetensorsEntry): TensorData | undefined {
  if (entry.dtype === 'F16' || entry.dtype === 'BF16') return undefined;
  const info = DTYPES[entry.dtype];
  if (!HOST_IS_LITTLE_ENDIAN && info.bytes !== 1) return undefined;
  return info.create(elementCount(entry.shape));
}

/**
 * Little-endian 16-bit floats as F32 (every F16 and BF16 value is exact in F32). BF16 is the top half
 * of an F32's bits; F16 has 5 exponent bits (bias 15) and 10 mantissa bits, with subnormals.
 */
function widenHalf(dtype: HalfDtype, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  for (let i = 0; i < count; i++) {
    const h = view.getUint16(2 * i, true);
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) out[i] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) out[i] = mantissa === 0 ? sign * Infinity : NaN;
    else out[i] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

function parseMetadata(value: unknown, fail: (problem: string) => never): Record<string, string> {
  if (!isPlainObject(value)) {
    fail(`${METADATA_KEY} must be an object of string values (got ${describeJsonValue(value)})`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, v] of entries) {
    if (typeof v !== 'string') {
      fail(`${METADATA_KEY}[${JSON.stringify(key)}] must be a string (got ${describeJsonValue(v)})`);
    }
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function parseEntry(
  name: string,
  value: unknown,
  dataLength: number,
  fail: (problem: string) => never,
  widenHalfFloats = false,
): SafetensorsEntry {
  const label = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) {
    fail(`${label} must be an object with dtype, shape and data_offsets (got ${describeJsonValue(value)})`);
  }
  const entry = value as Record<string, unknown>;
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(entry, field)) fail(`${label} has no "${field}" field`);
  }

  const dtype = entry.dtype;
  const half = widenHalfFloats && (dtype === 'F16' || dtype === 'BF16');
  if (!isDtype(dtype) && !half) {
    if (typeof dtype === 'string' && OTHER_FORMAT_DTYPES.has(dtype)) {
      fail(`${label} has dtype "${dtype}", which this reader does not support (supported: ${SUPPORTED})`);
    }
    fail(`${label} has unknown dtype ${describeJsonValue(dtype)} (supported: ${SUPPORTED})`);
  }
  const shape = entry.shape;
  if (!isShape(shape)) {
    fail(`${label} has shape ${describeJsonValue(shape)}; it must be an array of non-negative integers`);
  }
  const offsets = entry.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    fail(
      `${label} has data_offsets ${describeJsonValue(offsets)}; they must be two non-negative integers [begin, end]`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const typedDtype = dtype as SafetensorsDtype | HalfDtype;
  const typedShape = shape as number[];
  if (begin > end) fail(`${label} has data_offsets [${begin}, ${end}] whose begin is after its end`);
  const needed = elementCount(typedShape) * (half ? 2 : DTYPES[typedDtype as SafetensorsDtype].bytes);
  if (end - begin !== needed) {
    fail(
      `${label} has data_offsets [${begin}, ${end}] but shape ${formatShape(typedShape)} of ${typedDtype} needs ${needed} bytes`,
    );
  }
  if (end > dataLength) {
    fail(
      `${label} has data_offsets [${begin}, ${end}] reaching past the end of the ${dataLength}-byte data section (truncated file?)`,
    );
  }
  return { name, dtype: typedDtype, shape: typedShape, begin, end };
}

/** Checks that the tensors cover the data section exactly once: no holes, no overlaps, no trailing bytes. */
function checkTiling(
  entries: readonly SafetensorsEntry[],
  dataLength: number,
  fail: (problem: string) => never,
): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: SafetensorsEntry | undefined;
  for (const entry of sorted) {
    const where = `tensor ${JSON.stringify(entry.name)} with data_offsets [${entry.begin}, ${entry.end}]`;
    if (entry.begin > covered) {
      fail(
        `bytes [${covered}, ${entry.begin}) of the data section belong to no tensor (a hole before ${where})`,
      );
    }
    if (entry.begin < covered && previous !== undefined) {
      fail(
        `${where} overlaps tensor ${JSON.stringify(previous.name)} with data_offsets [${previous.begin}, ${previous.end}]`,
      );
    }
    if (entry.end > covered) {
      covered = entry.end;
      previous = entry;
    }
  }
  if (covered < dataLength) {
    fail(`bytes [${covered}, ${dataLength}) at the end of the data section belong to no tensor`);
  }
}
