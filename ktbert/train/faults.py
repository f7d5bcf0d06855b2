"""What a fit does when it goes wrong: a non-finite loss, or Ctrl-C.

A loss that turns NaN or infinite stops the fit and brings back the last good weights (and
optimizer state) from a snapshot kept in host memory; `Learner` then raises
`TrainingDiverged`, whose message suggests a lower rate. Ctrl-C leaves the weights of the last
completed step: TensorFlow runs each step as one call, so the interrupt lands between steps.
Restoring a snapshot is itself shielded from a second Ctrl-C, so it never stops half-way.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time

import keras
import numpy as np

from ktbert.train.training_state import TrainingState

DEFAULT_SNAPSHOT_OVERHEAD = 0.005  # a copy slows the steps after it too (docs/benchmarks/fault_guard.md)


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the fit stopped and restored good weights."""


@contextlib.contextmanager
def deferred_interrupts():
    """Holds back Ctrl-C (SIGINT) until the block is done, then raises it.

    Only the main thread receives signals; elsewhere the block runs unshielded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if not received or previous == signal.SIG_IGN:
        return
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signal.SIGINT, received[0])  # the program's own handler decides
        return
    raise KeyboardInterrupt


def _finite_loss(logs) -> bool:
    value = (logs or {}).get("loss")
    if value is None:
        return True
    return math.isfinite(float(np.asarray(value)))


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and restores the last good snapshot.

    Keras' `TerminateOnNaN` only stops, leaving NaN weights behind. This callback also keeps
    copies of every model and optimizer variable in host memory. A copy is "good" once the
    step run from it reported a finite loss: weights that are finite but already give NaN
    (a diverging rate) are never restored. The copy from the start of the fit is good by
    definition. Copies are taken after every step when `max_overhead >= 1`, otherwise as
    often as keeps copying under `max_overhead` of the training time (a copy also slows the
    steps after it, which the budget counts; docs/benchmarks/fault_guard.md). At most two
    copies exist at once, the good one and the one awaiting its step; their arrays are reused.

    Args:
        max_overhead: float. the share of training time the snapshots may take; 0 keeps only
            the snapshot from the start of the fit.

    Attributes:
        failed_step: int or None. the step (1-based, counted over the fit) whose loss was not
            finite.
        failed_loss: float or None. the loss reported at that step.
        restored_step: int or None. the restored weights are those from before this step
            (1-based); 1 is the start of the fit.
    """

    def __init__(self, max_overhead: float = DEFAULT_SNAPSHOT_OVERHEAD):
        super().__init__()
        self.max_overhead = float(max_overhead)
        self.good, self.good_step = None, 0
        self.pending, self.pending_step = None, None
        self.spare = None  # a superseded snapshot whose arrays the next copy reuses
        self.failed_step = None
        self.failed_loss = None
        self.restored_step = None
        self.weights_failed = False
        self._steps = 0
        self._copy_seconds = 0.0
        self._last_copy = 0.0

    def on_train_begin(self, logs=None):
        self.good = self._take()
        self.good_step = 0

    def start_at(self, step: int) -> None:
        """Numbers the steps of a resumed fit as the whole run's: `step` were trained before it."""
        self._steps = self.good_step = step

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if not _finite_loss(logs):
            self.failed_step = self._steps
            self.failed_loss = float(np.asarray(logs["loss"]))
            self.model.stop_training = True
            self._restore()
            return
        if self.pending is not None and self.pending_step == self._steps - 1:
            # the step run from the pending copy had a finite loss: the copy is good
            self.spare = self.good
            self.good, self.good_step, self.pending = self.pending, self.pending_step, None
        if self._due():
            self.pending, self.pending_step = self._take(), self._steps

    def on_train_end(self, logs=None):
        """The last step's update is seen by no loss: its weights are checked here."""
        if self.failed_step is None and not all(
                np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in self.model.trainable_variables):
            self.failed_step, self.weights_failed = self._steps, True
            self._restore()

    def _restore(self) -> None:
        with deferred_interrupts():
            self.good.restore()
        self.restored_step = self.good_step + 1
        self.pending = None

    def _due(self) -> bool:
        if self.max_overhead >= 1:
            return True
        if self.max_overhead <= 0:
            return False
        return time.perf_counter() - self._last_copy >= self._copy_seconds / self.max_overhead

    def _take(self) -> TrainingState:
        start = time.perf_counter()
        if self.spare is not None:
            state, self.spare = self.spare, None
            state.refill()
        else:
            state = TrainingState.capture(self.model)
        self._last_copy = time.perf_counter()
        self._copy_seconds = self._last_copy - start
        return state

    def restored(self) -> str:
        """Which weights the restore brought back, in words."""
        return ("the weights from the start of this fit" if self.restored_step == 1
                else f"the weights from before step {self.restored_step}")

    def message(self, lr: float | None) -> str:
        """What happened and what to do, for `TrainingDiverged`."""
        at = f" at learning rate {lr:.3g}" if lr is not None else ""
        kept = self.restored()
        what = ("The weights became NaN or infinite" if self.weights_failed
                else f"The training loss became {self.failed_loss}")
        return (
            f"{what} at step {self.failed_step}{at}, so training "
            f"stopped and {kept} were restored (optimizer state too). Lower the learning rate "
            "(e.g. by 10x, or choose one with `learner.lr_find()`) and fit again."
        )


def report_interrupt(what: str, detail: str) -> None:
    """Says on stderr what a Ctrl-C left behind."""
    print(f"\n{what} interrupted (Ctrl-C). {detail}", file=sys.stderr, flush=True)
