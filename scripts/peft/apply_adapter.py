"""Merges a PEFT LoRA adapter folder into a Hugging Face weights file with NumPy only, written
from PEFT's documented semantics and independently of grpovi (the test reference for
src/nn/weights/peftFolder.ts and src/nn/adapters/lora.ts).

For every pair `base_model.model.<module>.lora_A.weight` (A, [r, in]) and `...lora_B.weight`
(B, [out, r]) in adapter_model.safetensors, the base tensor `<module>.weight` becomes
    W + transpose(B @ A, fan_in_fan_out) * lora_alpha / r      (alpha / sqrt(r) with use_rslora)
as PEFT's LoraLayer.get_delta_weight computes it. Writes the merged tensors (only those) to OUT.

usage: apply_adapter.py BASE.safetensors ADAPTER_DIR OUT.safetensors
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    base_path, adapter_dir, out_path = sys.argv[1:4]
    base = read_safetensors(base_path)
    with open(f"{adapter_dir}/adapter_config.json") as f:
        config = json.load(f)
    adapter = read_safetensors(f"{adapter_dir}/adapter_model.safetensors")
    r = config["r"]
    scale = config["lora_alpha"] / (np.sqrt(r) if config.get("use_rslora") else r)
    prefix, suffix_a = "base_model.model.", ".lora_A.weight"
    merged = {}
    for key in adapter:
        if not key.endswith(suffix_a):
            continue
        module = key[len(prefix) : -len(suffix_a)]
        a = adapter[key].astype(np.float64)
        b = adapter[f"{prefix}{module}.lora_B.weight"].astype(np.float64)
        delta = b @ a
        if config["fan_in_fan_out"]:
            delta = delta.T
        w = base[f"{module}.weight"].astype(np.float64)
        assert w.shape == delta.shape, (module, w.shape, delta.shape)
        merged[f"{module}.weight"] = (w + delta * scale).astype(np.float32)
    write_safetensors(out_path, merged)


main()
