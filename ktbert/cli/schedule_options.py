"""`ktbert train`'s options for the recipe's schedule, long texts and checkpoints: their defaults,
their choices (listed in --help) and the arguments themselves.

`TrainingSettings` checks every value, so a wrong one is refused with the recipe's own message;
tests/test_cli.py keeps the defaults and choices here equal to the recipe's, so parsing needs
neither the recipe nor TensorFlow.
"""

from __future__ import annotations

import os

SCHEDULE_DEFAULTS = {
    "schedule": "onecycle", "early_stopping": None, "monitor": "val_loss", "reduce_on_plateau": None,
    "long_texts": "truncate", "window_stride": None, "window_pooling": "mean",
    "checkpoint_every": None, "checkpoint_folder": None, "resume": None,
}
RECIPE_CHOICES = {
    "schedule": ("onecycle", "autofit", "constant", "sgdr"),
    "monitor": ("val_loss", "val_accuracy", "val_macro_f1"),
    "long_texts": ("truncate", "windows"),
    "window_pooling": ("mean", "max"),
}


def _choices(name: str) -> str:
    return ", ".join(RECIPE_CHOICES[name])


def checkpoint_folder_for(output: str) -> str:
    """Where `--checkpoint-every` writes without `--checkpoint-dir` or `--resume`: beside the
    predictor's folder (not inside it: a save replaces that folder whole)."""
    return os.path.normpath(output) + "-checkpoints"


def schedule_arguments(parser) -> None:
    """Adds --schedule, --early-stopping, --monitor, --reduce-on-plateau, --long-texts,
    --window-stride, --window-pooling, --checkpoint-every, --checkpoint-dir and --resume to
    `parser`; each lands in `args` under the `TrainingSettings` field of the same name."""
    d = SCHEDULE_DEFAULTS
    parser.add_argument("--schedule", default=d["schedule"], metavar="S",
                        help=f"learning-rate schedule: {_choices('schedule')} (default: %(default)s)")
    parser.add_argument("--early-stopping", type=int, default=d["early_stopping"], metavar="N",
                        help="stop after N epochs without improvement of --monitor and keep the best epoch's "
                             "weights (--schedule autofit, constant or sgdr)")
    parser.add_argument("--monitor", default=d["monitor"], metavar="M",
                        help=f"what --early-stopping and --reduce-on-plateau watch: {_choices('monitor')} "
                             "(default: %(default)s)")
    parser.add_argument("--reduce-on-plateau", type=int, default=d["reduce_on_plateau"], metavar="N",
                        help="halve the peak rate after N epochs without improvement (--schedule autofit)")
    parser.add_argument("--long-texts", default=d["long_texts"], metavar="L",
                        help=f"how the saved predictor reads texts over --maxlen: {_choices('long_texts')} "
                             "(every token, in overlapping windows) (default: %(default)s)")
    parser.add_argument("--window-stride", type=int, default=d["window_stride"], metavar="N",
                        help="tokens between window starts (default: half a window)")
    parser.add_argument("--window-pooling", default=d["window_pooling"], metavar="P",
                        help=f"how windows' probabilities are pooled: {_choices('window_pooling')} "
                             "(default: %(default)s)")
    parser.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"], metavar="N",
                        help="write the whole training state every N steps (and each epoch's weights), so a killed "
                             "run can go on with --resume")
    parser.add_argument("--checkpoint-dir", dest="checkpoint_folder", default=d["checkpoint_folder"], metavar="DIR",
                        help="where --checkpoint-every writes (default: --resume's DIR, else OUTPUT-checkpoints)")
    parser.add_argument("--resume", default=d["resume"], metavar="DIR",
                        help="go on from the newest checkpoint in DIR, written by this command with --checkpoint-every "
                             "(the same data and options; others are refused)")
