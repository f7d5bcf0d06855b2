"""Exact snapshots of a model's and its optimizer's variables, to undo exploratory training.

`lr_find` trains on purpose at absurd rates; it takes a snapshot first and restores it in a
`finally`, so weights, optimizer moments, step counter and dropout seeds come back bit for
bit, also after an interrupt or an error.
"""

from __future__ import annotations

import numpy as np


def ensure_optimizer_built(model) -> None:
    """Builds the optimizer's slots now, so a snapshot holds them (zeros before any step)."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)


def _state_variables(model) -> list:
    return _unique(list(model.variables) + list(model.optimizer.variables))


def run_variables(model) -> list:
    """Every variable a resumed run needs, each once: the model's (weights and dropout's seed
    generators), the optimizer's (moments, step counter, rate, momentum, weight decay) and the
    metrics' running totals (`model.metrics_variables`, which `model.variables` leaves out)."""
    ensure_optimizer_built(model)
    return _unique(_state_variables(model) + list(model.metrics_variables))


def _unique(variables) -> list:
    seen, unique = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            unique.append(v)
    return unique


class TrainingState:
    """Every variable of a model and its optimizer, copied to host memory.

    Examples:
    ```python
    state = TrainingState.capture(model)
    try:
        model.fit(...)
    finally:
        state.restore()
    ```
    """

    def __init__(self, variables, values):
        self.variables = variables
        self.values = values

    @classmethod
    def capture(cls, model) -> "TrainingState":
        ensure_optimizer_built(model)
        variables = _state_variables(model)
        return cls(variables, [np.array(v.numpy(), copy=True) for v in variables])

    def refill(self) -> None:
        """Copies the variables' current values into this snapshot's arrays, reusing them (no
        new host memory to allocate and fault in)."""
        for variable, value in zip(self.variables, self.values):
            np.copyto(value, variable.numpy())

    def restore(self) -> None:
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)
