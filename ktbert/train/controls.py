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
        freeze_range = _bottom_blocks(freeze_range, "freeze_range", "the bottom blocks to freeze",
                                      "train only the head")
        freezing.set_frozen_blocks(self.model, freeze_range)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def unfreeze(self, *positional, n_top: int | None = None, exclude_range: int | None = None) -> None:
        """Makes the model trainable: all of it, all but its bottom blocks, or only its top layers.

        `unfreeze()` trains everything. `unfreeze(exclude_range=k)` is ktrain's call: all but
        the bottom `k` blocks train, as `freeze(k)` (encoder blocks for ktbert classifiers,
        `model.layers[:k]` for other Keras models). `unfreeze(n_top=n)` trains only the top `n`
        transformer layers and the head (ktbert classifiers). Both counts are keywords: ktrain's
        positional `unfreeze(2)` kept the bottom 2 frozen, the opposite of training the top 2,
        so a positional count is refused with a TypeError that says which keyword to write.
        The optimizer restarts (its moments are dropped).
        """
        if positional:
            shown = ", ".join(repr(value) for value in positional)
            k = shown if len(positional) == 1 else "k"
            raise TypeError(
                f"`unfreeze` takes its count by keyword: ktrain's and ktbert's counts point opposite ways. Received: "
                f"unfreeze({shown}). ktrain's `unfreeze({k})` trains all but the bottom {k} blocks: write "
                f"`unfreeze(exclude_range={k})` (the same as `freeze({k})`). To train only the top {k} transformer "
                f"layers and the head, write `unfreeze(n_top={k})`."
            )
        if n_top is not None and exclude_range is not None:
            raise ValueError("Give `n_top` (the top layers that train) or `exclude_range` (the bottom blocks that "
                             f"stay frozen), not both. Received: n_top={n_top!r}, exclude_range={exclude_range!r}")
        if n_top is not None:
            n_top = check_count(n_top, "n_top")
            blocks = len(freezing.encoder_blocks(self.model))
            freezing.set_frozen_blocks(self.model, blocks - n_top)
        else:
            exclude_range = _bottom_blocks(exclude_range, "exclude_range", "the bottom blocks that stay frozen",
                                           "train everything")
            freezing.set_frozen_blocks(self.model, exclude_range or 0)
        hyperparameters.recompile_with_fresh_optimizer(self.model)

    def print_layers(self, show_weights: bool = True, show_wd: bool = False) -> list:
        """Prints each layer with its class, whether it trains and its parameter count; returns the rows.

        Args:
            show_weights: bool. print each layer's parameter count.
            show_wd: bool. ktrain's: print the decoupled weight decay each layer's weights get,
                `get_weight_decay()` where the optimizer decays one of them and 0 where it
                decays none (biases, LayerNorm and embeddings are never decayed).

        Returns:
            list of `(name, class, trainable, parameters)` rows; with `show_wd`, each row ends
            with the layer's weight decay.
        """
        show_weights = check_flag(show_weights, "show_weights")
        show_wd = check_flag(show_wd, "show_wd")
        layers = freezing.table_layers(self.model)
        rows = freezing.layer_table(self.model)
        if show_wd:
            rows = [row + (hyperparameters.layer_weight_decay(self.model.optimizer, layer),)
                    for row, (_, layer, _) in zip(rows, layers)]
        width = max(len(r[0]) for r in rows) if rows else 10
        for i, (name, kind, trainable, count, *wd) in enumerate(rows):
            line = f"{i:3d} {name:<{width}} {kind:<28} trainable={trainable}"
            line += f"  params={count:,}" if show_weights else ""
            print(line + (f"  wd={wd[0]:g}" if show_wd else ""))
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


def _bottom_blocks(value, what: str, meaning: str, none_means: str) -> int | None:
    """A count of bottom blocks: a non-negative integer, or None."""
    if value is None:
        return None
    message = (f"`{what}` must be a non-negative integer ({meaning}) or None ({none_means}). "
               f"Received: {what}={echo(value)}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(message)
    if value < 0:
        raise ValueError(message)
    return int(value)
