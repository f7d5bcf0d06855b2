"""A fit's state beyond its variables, as plain JSON for a training checkpoint, and what
identifies the run, so a checkpoint resumes only the run that wrote it.

`callback_state` and `restore_callbacks` carry the schedule's position and every rate and
momentum used so far (`StepSchedule.get_state`, with autofit's reduced peak and plateau count), the
history of the completed epochs (Keras' `History`) and early stopping's best-so-far (its best
weights travel as arrays beside the variables). `fingerprint` describes the model (its class,
its config and the layout of every variable), the data (counts and digests), the batches and
the fit's arguments as one flat dict; `differences` says in words where two of them disagree.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

# Keras numbers the names of unnamed layers and seed generators per process (`dense_3`,
# `seed_generator_14`): a resumed process may count differently, so numbers are left out.
_NUMBERED = re.compile(r"_\d+(?=/|_|$)")


# === Callback state ===
def callback_state(stepper, early_stopping, record) -> dict:
    """The schedule's, early stopping's (without its weights) and the history's state, as JSON."""
    stopping = None
    if early_stopping is not None:
        best = early_stopping.best
        stopping = {"wait": int(early_stopping.wait), "stopped_epoch": int(early_stopping.stopped_epoch),
                    "best": None if best is None else float(best), "best_epoch": int(early_stopping.best_epoch)}
    history = {key: [_plain(v) for v in values] for key, values in record.history.items()}
    return {"schedule": stepper.get_state(), "early_stopping": stopping,
            "history": {"epoch": [int(e) for e in record.epoch], "logs": history}}


def restore_callbacks(state: dict, stepper, early_stopping, record, best_weights=None) -> None:
    """Puts `callback_state`'s values back, after the callbacks' own `on_train_begin` reset them."""
    stepper.set_state(state["schedule"])
    stopping = state["early_stopping"]
    if early_stopping is not None and stopping is not None:
        early_stopping.wait, early_stopping.stopped_epoch = stopping["wait"], stopping["stopped_epoch"]
        early_stopping.best, early_stopping.best_epoch = stopping["best"], stopping["best_epoch"]
        early_stopping.best_weights = best_weights
    record.epoch = list(state["history"]["epoch"])
    record.history = {key: list(values) for key, values in state["history"]["logs"].items()}


def _plain(value):
    """A log value as JSON takes it: numbers as floats (NaN too), anything else as it is."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)


# === What identifies the run ===
def fingerprint(model, variables, train_data, val_data, batches: dict, fit_arguments: dict) -> dict:
    """The run's identity as one flat dict of readable keys and plain JSON values.

    Args:
        model: keras.Model. its class and config (names left out: Keras numbers them).
        variables: list. every variable the checkpoint holds; their layout is digested.
        train_data, val_data: TextData or None. counted and digested.
        batches: dict. batch size, steps per epoch, bucketing, shuffling seed.
        fit_arguments: dict. the fit method and its arguments.
    """
    found = {"model class": type(model).__name__}
    config = model.get_config() if hasattr(model, "get_config") else {}
    _flatten("model", config, found)
    layout = [(_NUMBERED.sub("", v.path), list(v.shape), str(v.dtype)) for v in variables]
    digest = hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:12]
    found["model variables"] = f"{len(layout)} variables, layout {digest}"
    for name, data in (("training", train_data), ("validation", val_data)):
        found[f"{name} data"] = None if data is None else f"{len(data.y)} examples, digest {_data_digest(data)}"
    found.update(batches)
    found.update(fit_arguments)
    return json.loads(json.dumps(found))  # tuples as lists, keys as strings: as read back


def differences(saved: dict, now: dict) -> list:
    """`"key: saved in the checkpoint, now now"` for every key where the two disagree."""
    keys = list(now) + [key for key in saved if key not in now]
    return [f"{key}: {saved.get(key)!r} in the checkpoint, {now.get(key)!r} now"
            for key in keys if saved.get(key) != now.get(key)]


def _flatten(prefix: str, value, found: dict) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            if key != "name":
                _flatten(f"{prefix}.{key}", value[key], found)
    elif isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
        for i, item in enumerate(value):
            _flatten(f"{prefix}[{i}]", item, found)
    elif isinstance(value, (list, tuple)):
        found[prefix] = [v if isinstance(v, (str, int, float, bool, type(None))) else type(v).__name__ for v in value]
    elif isinstance(value, (str, int, float, bool, type(None))):
        found[prefix] = value
    else:
        found[prefix] = type(value).__name__


def _data_digest(data) -> str:
    """A digest of the examples' tokens (or arrays) and labels."""
    digest = hashlib.sha256()
    x = data.x
    parts = [x.values, x.lengths, x.firsts, np.asarray(x.maxlen)] if hasattr(x, "values") else [np.asarray(x)]
    for part in parts + [np.asarray(data.y)]:
        if part is not None:
            digest.update(str((part.dtype, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()[:12]
