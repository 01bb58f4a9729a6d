"""Reading and writing Hugging Face model folders with NumPy only (no torch, no transformers).

safetensors layout: 8-byte little-endian header length, a JSON header mapping names to
{dtype, shape, data_offsets}, then the raw little-endian data.
"""
import json
import os
import struct

import numpy as np

_NP = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32}


def to_bf16_bits(values):
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even, as torch does."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def write_safetensors(path, tensors, dtype="F32"):
    """tensors: dict name -> float array; stored as dtype F32, F16 or BF16."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        value = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "BF16":
            raw = to_bf16_bits(value).tobytes()
        else:
            raw = value.astype(_NP[dtype]).astype(f"<{np.dtype(_NP[dtype]).str[1:]}").tobytes()
        header[name] = {"dtype": dtype, "shape": list(value.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """name -> float64 array (F16/BF16/F32 widened exactly)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            value = bits.view(np.float32)
        else:
            value = np.frombuffer(raw, dtype=np.dtype(_NP[entry["dtype"]]).newbyteorder("<"))
        out[name] = value.astype(np.float64).reshape(entry["shape"])
    return out


def read_folder(folder):
    """config dict and all tensors (single file or sharded through the index)."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        return config, read_safetensors(single)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    tensors = {}
    for file in sorted(set(index["weight_map"].values())):
        tensors.update(read_safetensors(os.path.join(folder, file)))
    return config, tensors
