import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * A small builder for ONNX graphs, encoded with the `onnx-proto` messages (the ONNX protobuf schema
 * compiled for protobufjs). It knows nothing about models: nodes, typed inputs and outputs with
 * symbolic dimensions, and weights as initializers. Pure: bytes out, no file system.
 */
export type OnnxElementType = 'float' | 'int64' | 'bool';
/** A fixed size, or a symbolic name such as "batch_size" (ONNX `dim_param`). */
export type OnnxDim = number | string;
export type OnnxAttribute = { int: number } | { ints: number[] } | { float: number };

/** ONNX IR version 8 with opset 17 (ONNX 1.12): every op used here (LayerNormalization needs 17). */
const IR_VERSION = 8;
export const OPSET = 17;
/** Protobuf messages cannot exceed 2 GiB: weights beyond that go to an external data file. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

const ELEMENT_TYPES: Record<OnnxElementType, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** The ONNX data type number of an element type (for Cast's `to`). */
export function onnxElementType(type: OnnxElementType): number {
  return ELEMENT_TYPES[type];
}

/** A model too large for one protobuf message. */
export class OnnxSizeError extends Error {
  override readonly name = 'OnnxSizeError';
}

/** The encoded graph, and the external data file its weights point to (when it has one). */
export interface EncodedOnnx {
  model: Uint8Array;
  externalData?: Uint8Array;
}

function valueInfo(
  name: string,
  type: OnnxElementType,
  dims: OnnxDim[],
): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ELEMENT_TYPES[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

function attribute(name: string, value: OnnxAttribute): InstanceType<typeof onnx.AttributeProto> {
  const { AttributeType } = onnx.AttributeProto;
  if ('int' in value) return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value.int });
  if ('ints' in value)
    return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value.ints });
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value.float });
}

function bytesOf(data: Float32Array | BigInt64Array): Uint8Array {
  // ONNX raw_data is little-endian, as typed arrays are on every platform Node runs on.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export class OnnxGraphBuilder {
  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly names = new Set<string>();
  private weightBytes = 0;
  private counter = 0;
  /** Weights stored outside the protobuf (ONNX external data), in file order. */
  private readonly external: Uint8Array[] = [];
  private externalBytes = 0;

  /**
   * `externalData`: the file name (beside the .onnx file) that `weight()` tensors are written to
   * instead of the protobuf; small constants stay inside.
   */
  constructor(
    private readonly graphName: string,
    private readonly externalData?: string,
  ) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX graph: the name ${name} is used twice`);
    this.names.add(name);
    return name;
  }

  private fresh(hint: string): string {
    return this.claim(`/${hint}_${this.counter++}`);
  }

  /** A graph input; returns its name. */
  input(name: string, type: OnnxElementType, dims: OnnxDim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, dims));
    return name;
  }

  /** Declares `value` (a name some node produced) as a graph output under `name`. */
  output(name: string, value: string, type: OnnxElementType, dims: OnnxDim[]): void {
    const out = value === name ? name : this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(out, type, dims));
  }

  /** A float32 weight; returns its name. */
  weight(name: string, dims: number[], data: Float32Array): string {
    if (this.externalData === undefined) return this.addFloats(this.claim(name), dims, data);
    checkSize(name, dims, data);
    const bytes = bytesOf(data);
    this.initializers.push(
      onnx.TensorProto.create({
        name: this.claim(name),
        dims,
        dataType: ELEMENT_TYPES.float,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: this.externalData },
          { key: 'offset', value: String(this.externalBytes) },
          { key: 'length', value: String(bytes.byteLength) },
        ],
      }),
    );
    this.external.push(bytes);
    this.externalBytes += bytes.byteLength;
    return name;
  }

  private addFloats(name: string, dims: number[], data: Float32Array): string {
    checkSize(name, dims, data);
    this.weightBytes += data.byteLength;
    if (this.weightBytes > PROTOBUF_LIMIT)
      throw new OnnxSizeError(
        `the weights exceed the 2 GiB that one ONNX protobuf file can hold (use external data)`,
      );
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: ELEMENT_TYPES.float,
        rawData: bytesOf(data),
      }),
    );
    return name;
  }

  /** A float32 constant (a scalar when `dims` is empty). */
  floats(values: number[], dims: number[] = [values.length]): string {
    return this.addFloats(this.fresh('const'), dims, Float32Array.from(values));
  }

  /** An int64 constant (a scalar when `dims` is empty): shapes, axes, indices. */
  ints(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('const');
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType: ELEMENT_TYPES.int64,
        rawData: bytesOf(BigInt64Array.from(values.map((v) => BigInt(v)))),
      }),
    );
    return name;
  }

  /** A node with one output; returns the output's name (`outputName`, or a fresh one). */
  op(
    type: string,
    inputs: string[],
    attributes: Record<string, OnnxAttribute> = {},
    outputName?: string,
  ): string {
    return this.opMany(type, inputs, 1, attributes, outputName === undefined ? undefined : [outputName])[0];
  }

  /** A node with `count` outputs (Split). */
  opMany(
    type: string,
    inputs: string[],
    count: number,
    attributes: Record<string, OnnxAttribute> = {},
    outputNames?: string[],
  ): string[] {
    const output = Array.from({ length: count }, (_, i) =>
      outputNames ? this.claim(outputNames[i]) : this.fresh(type),
    );
    this.nodes.push(
      onnx.NodeProto.create({
        opType: type,
        name: `/${type}_node_${this.nodes.length}`,
        input: inputs,
        output,
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return output;
  }

  /** The serialized ModelProto, and its external data when weights were written there. */
  encode(producerVersion: string): EncodedOnnx {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'grpovi',
      producerVersion,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    const encoded = onnx.ModelProto.encode(model).finish();
    if (this.externalData === undefined) return { model: encoded };
    return { model: encoded, externalData: Buffer.concat(this.external, this.externalBytes) };
  }
}

function checkSize(name: string, dims: number[], data: Float32Array): void {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length)
    throw new Error(`ONNX graph: ${name} has ${data.length} values for the shape [${dims.join(', ')}]`);
}
