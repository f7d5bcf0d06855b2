"""A model's folder, as `Learner.save_model` writes it: the safetensors weights and the model's
config (for reading, not for building), sealed by the manifest.
"""

from __future__ import annotations

import json
import os

from ktbert.saving import folder_writes, manifest, weights_file

MODEL_FORMAT = "ktbert-model"


def write_model(folder: str, model) -> None:
    """Writes `model`'s weights and config into `folder` atomically."""
    config = model.get_config() if hasattr(model, "get_config") else {}

    def write(tmp):
        weights_file.save_weights(model, os.path.join(tmp, manifest.WEIGHTS))

    content = {"model_class": type(model).__name__, "model": json.loads(json.dumps(config, default=repr))}
    manifest.write_folder(folder, write, content, fmt=MODEL_FORMAT)


def read_model_into(folder: str, model) -> None:
    """Loads weights written by `write_model` into `model`, which must be of the saved class."""
    with folder_writes.reading(folder):  # no save swaps the folder between the checksum and the read
        content = manifest.read_manifest(folder, fmt=MODEL_FORMAT, required=(manifest.WEIGHTS,))
        if content.get("model_class") != type(model).__name__:
            raise manifest.SaveFormatError(
                f"{folder!r} holds a {content.get('model_class')} but this learner's model is a "
                f"{type(model).__name__}."
            )
        weights_file.load_weights(model, os.path.join(folder, manifest.WEIGHTS))
