"""Training controls of the learner: weight decay, freezing, model saves and checkpoints."""

from __future__ import annotations

import numbers

from ktbert.checks import check_count, check_flag, check_non_negative, check_path, echo
from ktbert.model.compiling import BERT_WEIGHT_DECAY
from ktbert.saving import checkpoint_index, model_folder
from ktbert.train import checkpoints, freezing, hyperparameters
from ktbert.train.learner_parts import LearnerParts


class ControlsMixin(LearnerParts):
    """What trains and how it is saved; mixed into `Learner`."""

    # === Weight decay and freezing ===
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
            message = ("`freeze_range` must be a non-negative integer (the bottom blocks to freeze) or None "
                       f"(train only the head). Received: freeze_range={echo(freeze_range)}")
            if isinstance(freeze_range, bool) or not isinstance(freeze_range, numbers.Integral):
                raise TypeError(message)
            if freeze_range < 0:
                raise ValueError(message)
            freeze_range = int(freeze_range)
        freezing.set_frozen_blocks(self.model, freeze_range)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def unfreeze(self, n_top: int | None = None) -> None:
        """Makes the encoder trainable: all of it, or (ktbert classifiers) only its top `n_top` layers."""
        if n_top is None:
            freezing.set_frozen_blocks(self.model, 0)
        else:
            n_top = check_count(n_top, "n_top")
            blocks = len(freezing.encoder_blocks(self.model))
            freezing.set_frozen_blocks(self.model, blocks - n_top)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def print_layers(self, show_weights: bool = True) -> list:
        """Prints each layer with its class, whether it trains and its parameter count; returns the rows."""
        show_weights = check_flag(show_weights, "show_weights")
        rows = freezing.layer_table(self.model)
        width = max(len(r[0]) for r in rows) if rows else 10
        for i, (name, kind, trainable, count) in enumerate(rows):
            line = f"{i:3d} {name:<{width}} {kind:<28} trainable={trainable}"
            print(line + (f"  params={count:,}" if show_weights else ""))
        return rows

    # === Saving and checkpoints ===
    def save_model(self, folder: str) -> None:
        """Saves the model's weights (safetensors) and its config into `folder`."""
        model_folder.write_model(check_path(folder, "folder", "folder"), self.model)

    def load_model(self, folder: str) -> None:
        """Loads weights saved by `save_model` into this learner's model (same architecture)."""
        model_folder.read_model_into(check_path(folder, "folder", "folder"), self.model)

    def load_checkpoint(self, folder: str, epoch: int) -> None:
        """Loads the weights saved at the end of `epoch` (1-based) into the model."""
        folder = check_path(folder, "folder", "folder")
        checkpoint_index.load_epoch(folder, self.model, check_count(epoch, "epoch"))

    def load_best(self, folder: str, monitor: str = "val_loss") -> dict:
        """Loads the epoch with the best `monitor` ("val_loss", "val_accuracy", "val_macro_f1").

        Returns:
            dict. the chosen epoch's record: `epoch`, `file` and its `logs`.
        """
        folder = check_path(folder, "folder", "folder")
        if not isinstance(monitor, str):
            raise TypeError("`monitor` must be the name of a metric in the epoch logs, such as 'val_loss'. "
                            f"Received: monitor={echo(monitor)}")
        record = checkpoints.best_checkpoint(folder, monitor)
        self.load_checkpoint(folder, record["epoch"])
        return record
