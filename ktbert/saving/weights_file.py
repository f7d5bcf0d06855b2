"""The safetensors weights file of a save: every model variable, checked before it is read.

`save_weights` writes the variables in `model.weights` order, their Keras paths in the file's
metadata. `load_weights` checks the file's header (its size, and every tensor's name, path,
dtype, shape and byte range) against the file and the model before a tensor is read or a
variable changed, then reads and assigns one tensor at a time (a whole second copy of the
weights would be the largest transient of a load; a disk error part-way leaves the model
part-loaded, and the error says so); `check_layout` compares the header with the shapes a
model config implies, before that model is built. Every refusal is a `SaveFormatError` naming the file.

Imports run one way: weights_file > manifest > folder_writes. This module takes
`SaveFormatError` from `ktbert.saving.manifest`, which never imports it.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from ktbert.model.frozen import mark_weights_changed
from ktbert.saving.manifest import SaveFormatError

# ktbert's own weight headers are tens of kilobytes; this bound keeps a crafted file from making
# a load read gigabytes before it is refused.
MAX_HEADER_BYTES = 16 << 20
# safetensors dtype names -> (numpy/Keras dtype name, bytes per element)
SAFETENSORS_DTYPES = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "I16": ("int16", 2), "U16": ("uint16", 2),
    "F16": ("float16", 2), "BF16": ("bfloat16", 2), "I32": ("int32", 4), "U32": ("uint32", 4),
    "F32": ("float32", 4), "I64": ("int64", 8), "U64": ("uint64", 8), "F64": ("float64", 8),
}


def save_weights(model, path: str) -> None:
    """Writes every model variable, in `model.weights` order, to a safetensors file."""
    tensors, paths = {}, []
    for i, variable in enumerate(model.weights):
        tensors[f"{i:04d}"] = np.asarray(variable.numpy(), order="C")  # ascontiguousarray makes scalars (1,)
        paths.append(variable.path)
    save_file(tensors, path, metadata={"paths": json.dumps(paths)})


def read_safetensors_header(path: str) -> dict:
    """The JSON header of a safetensors file, checked before anything else is read: its
    length against the file's size and `MAX_HEADER_BYTES`, and every tensor's dtype, shape
    and byte range against the data that follows it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8).ljust(8, b"\0"), "little")
        if size < 8 or length > MAX_HEADER_BYTES or 8 + length > size:
            raise SaveFormatError(
                f"{path!r} is not a valid safetensors file: its header claims {length:,} bytes, but the "
                f"file holds {size:,} bytes in all and a header may hold at most {MAX_HEADER_BYTES:,}. "
                f"It is truncated or crafted: save the model again."
            )
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise SaveFormatError(f"{path!r} is not a valid safetensors file: its header is not JSON "
                              f"({type(err).__name__}). Save the model again.") from err
    if not isinstance(header, dict):
        raise SaveFormatError(f"{path!r} is not a valid safetensors file: its header is a "
                              f"{type(header).__name__}, not a JSON object. Save the model again.")
    data = size - 8 - length
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise SaveFormatError(f"{path!r}: its `__metadata__` must map names to strings. "
                                      "Save the model again.")
            continue
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        valid = (dtype in SAFETENSORS_DTYPES and isinstance(shape, list) and isinstance(offsets, list)
                 and all(type(n) is int and n >= 0 for n in shape + offsets) and len(offsets) == 2
                 and offsets[0] <= offsets[1] <= data
                 and offsets[1] - offsets[0] == math.prod(shape) * SAFETENSORS_DTYPES[dtype][1])
        if not valid:
            raise SaveFormatError(
                f"{path!r}: tensor {key!r} is described as {json.dumps(entry)[:200]}, which is not a "
                f"dtype, shape and byte range within the file's {data:,} data bytes. The file is "
                "corrupted or crafted: save the model again."
            )
    return header


def _saved_paths(path: str, header: dict, count: int):
    """The variable paths `save_weights` wrote into the metadata, or None (files without them)."""
    text = header.get("__metadata__", {}).get("paths")
    if text is None:
        return None
    try:
        paths = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        paths = None
    if not isinstance(paths, list) or len(paths) != count or not all(isinstance(p, str) for p in paths):
        raise SaveFormatError(f"{path!r}: its metadata `paths` is not a list of {count} variable paths. "
                              "The file is corrupted or crafted: save the model again.")
    return paths


def _keys_in_order(path: str, header: dict, count: int, fix: str) -> list:
    """The tensor keys `save_weights` writes for `count` variables, in variable order ("10000"
    sorts before "1001" as text); refuses a file holding any other keys, saying `fix`."""
    expected = [f"{i:04d}" for i in range(count)]
    names = [k for k in header if k != "__metadata__"]
    if sorted(names) != sorted(expected):
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        start = (f"{path!r} holds {len(names)} weight tensors but the model has {count}"
                 if len(names) != count else f"{path!r} holds tensors the model does not have")
        raise SaveFormatError(f"{start}: the file belongs to another model. Missing: {missing[:5]}; "
                              f"unexpected: {extra[:5]}. {fix}")
    return expected


def check_layout(path: str, header: dict, count: int, shapes: dict, config_path: str) -> None:
    """Refuses a weights file that is not the `count` tensors a model config implies, or whose
    tensors differ from `shapes` (index -> (weight path, shape, the sizes that make it), as
    `ktbert.saving.saved_config.weight_layout` gives them), before the model is built: a config
    asking for more than its file holds is refused without allocating it.

    Args:
        path: str. the weights file.
        header: dict. its header, from `read_safetensors_header`.
        count: int. the number of weights the config implies.
        shapes: dict. the shapes the config implies, by weight index.
        config_path: str. the file holding the config, named in refusals.
    """
    fix = (f"The model is the one the config in {config_path!r} describes: one of the two files was edited "
           "or crafted; save the predictor again.")
    keys = _keys_in_order(path, header, count, fix)
    for index, (weight, shape, sizes) in sorted(shapes.items()):
        found = header[keys[index]]["shape"]
        if found != shape:
            raise SaveFormatError(
                f"{path!r}: tensor {keys[index]} ({weight}) has shape {tuple(found)} in the file, but the model "
                f"config in {config_path!r} implies {tuple(shape)} ({sizes}): they do not belong together. One "
                "of the two files was edited or crafted: save the predictor again."
            )


def load_weights(model, path: str) -> None:
    """Assigns the weights written by `save_weights`, checking every tensor's name, path,
    dtype and shape against the model before a tensor is read or a variable changed."""
    import keras

    header = read_safetensors_header(path)
    variables = model.weights
    keys = _keys_in_order(path, header, len(variables), "Load it into the model it was saved from.")
    paths = _saved_paths(path, header, len(keys))
    for i, (key, variable) in enumerate(zip(keys, variables)):
        entry = header[key]
        if paths is not None and paths[i] != variable.path:
            raise SaveFormatError(
                f"{path!r}: tensor {key} is weight {paths[i]} in the file but {variable.path} in the "
                "model: the file belongs to another model, or its tensors were reordered. Load it into "
                "the model it was saved from."
            )
        saved_dtype = SAFETENSORS_DTYPES[entry["dtype"]][0]
        if saved_dtype != keras.backend.standardize_dtype(variable.dtype):
            raise SaveFormatError(
                f"{path!r}: weight {variable.path} is {saved_dtype} in the file but {variable.dtype} in the "
                "model: the file belongs to another model. Load it into the model it was saved from."
            )
        if tuple(entry["shape"]) != tuple(variable.shape):
            raise SaveFormatError(
                f"{path!r}: weight {variable.path} has shape {tuple(entry['shape'])} in the file but "
                f"{tuple(variable.shape)} in the model: the file belongs to another model."
            )
    # One tensor at a time: the process holds one weight twice at most, not the whole model (the
    # header check above already proved every tensor's bytes lie within the file).
    assigned = 0
    try:
        with safe_open(path, framework="numpy") as f:
            for key, variable in zip(keys, variables):
                variable.assign(f.get_tensor(key))
                assigned += 1
    except (SafetensorError, OSError) as err:
        state = ("no weight was changed" if assigned == 0 else
                 f"the model now holds {assigned} of its {len(keys)} weights from this file and the rest from "
                 "before: do not use it until a load succeeds (load another checkpoint or saved model)")
        raise SaveFormatError(f"{path!r} could not be read as safetensors ({err}); {state}. If the file "
                              "is damaged, save the model again.") from err
    finally:
        if assigned:
            mark_weights_changed(model)
