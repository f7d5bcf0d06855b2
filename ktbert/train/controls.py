"""Training controls of the learner: weight decay, freezing, model saves and checkpoints."""

from __future__ import annotations

import json
import os

from ktbert.checks import check_count, check_non_negative
from ktbert.model.compiling import BERT_WEIGHT_DECAY
from ktbert.serve import saving, weights_file
from ktbert.train import checkpoints, freezing, hyperparameters

MODEL_FORMAT = "ktbert-model"


class ControlsMixin:
    """What trains and how it is saved; mixed into `Learner`."""

    # -- weight decay and freezing -----------------------------------------------------------
    def get_weight_decay(self) -> float:
        """The decoupled weight decay of the optimizer (0 when off)."""
        return hyperparameters.get_weight_decay(self.model.optimizer)

    def set_weight_decay(self, wd: float = BERT_WEIGHT_DECAY) -> None:
        """Sets the decoupled weight decay; biases, LayerNorm and embeddings stay undecayed.

        Off (0) until set, as in ktrain; `set_weight_decay()` applies the BERT recipe's 0.01.
        """
        hyperparameters.set_weight_decay(self.model.optimizer, check_non_negative(wd, "wd"))

    def freeze(self, freeze_range: int | None = None) -> None:
        """Freezes layers; ktrain's `freeze`.

        For a ktbert classifier, `freeze()` trains only the classification head (the
        feature-based approach), and `freeze(k)` freezes the bottom `k` encoder blocks
        (block 0 is the embeddings, blocks 1..L the transformer layers). For other Keras
        models, `freeze()` trains only the last Dense layer and `freeze(k)` freezes
        `model.layers[:k]`, as ktrain did. The optimizer restarts (its moments are dropped).
        """
        if freeze_range is not None:
            freeze_range = int(freeze_range)
        freezing.set_frozen_blocks(self.model, freeze_range)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def unfreeze(self, n_top: int | None = None) -> None:
        """Makes the encoder trainable: all of it, or (ktbert classifiers) only its top `n_top` layers."""
        if n_top is None:
            freezing.set_frozen_blocks(self.model, 0)
        else:
            blocks = len(freezing.encoder_blocks(self.model))
            freezing.set_frozen_blocks(self.model, blocks - check_count(n_top, "n_top"))
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def print_layers(self, show_weights: bool = True) -> list:
        """Prints each layer with its class, whether it trains and its parameter count; returns the rows."""
        rows = freezing.layer_table(self.model)
        width = max(len(r[0]) for r in rows) if rows else 10
        for i, (name, kind, trainable, count) in enumerate(rows):
            line = f"{i:3d} {name:<{width}} {kind:<28} trainable={trainable}"
            print(line + (f"  params={count:,}" if show_weights else ""))
        return rows

    # -- saving and checkpoints --------------------------------------------------------------
    def save_model(self, folder: str) -> None:
        """Saves the model's weights (safetensors) and its config into `folder`."""
        config = self.model.get_config() if hasattr(self.model, "get_config") else {}

        def write(tmp):
            weights_file.save_weights(self.model, os.path.join(tmp, saving.WEIGHTS))

        manifest = {"model_class": type(self.model).__name__, "model": json.loads(json.dumps(config, default=repr))}
        saving.write_folder(folder, write, manifest, fmt=MODEL_FORMAT)

    def load_model(self, folder: str) -> None:
        """Loads weights saved by `save_model` into this learner's model (same architecture)."""
        manifest = saving.read_manifest(folder, fmt=MODEL_FORMAT)
        if manifest.get("model_class") != type(self.model).__name__:
            raise saving.SaveFormatError(
                f"{folder!r} holds a {manifest.get('model_class')} but this learner's model is a "
                f"{type(self.model).__name__}."
            )
        weights_file.load_weights(self.model, os.path.join(folder, saving.WEIGHTS))

    def load_checkpoint(self, folder: str, epoch: int) -> None:
        """Loads the weights saved at the end of `epoch` (1-based) into the model."""
        records = {r["epoch"]: r for r in checkpoints.read_index(folder)}
        if epoch not in records:
            raise ValueError(f"no checkpoint for epoch {epoch} in {folder!r}; saved epochs: {sorted(records)}")
        weights_file.load_weights(self.model, os.path.join(folder, records[epoch]["file"]))

    def load_best(self, folder: str, monitor: str = "val_loss") -> dict:
        """Loads the epoch with the best `monitor` ("val_loss", "val_accuracy", "val_macro_f1").

        Returns:
            dict. the chosen epoch's record: `epoch`, `file` and its `logs`.
        """
        record = checkpoints.best_checkpoint(folder, monitor)
        self.load_checkpoint(folder, record["epoch"])
        return record
