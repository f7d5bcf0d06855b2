"""A switch that layers read while a step is traced (`ktbert.model.frozen` turns its switches on
around the trace): on within `with switch.on():`, in that thread only, so a step traced at the
same time in another thread is not affected. A switch may carry a value for the layers to read
(`ktbert.model.int8`: how many GELU layers of this trace are still to stay float)."""

from __future__ import annotations

import contextlib
import threading


class TraceSwitch:
    """A thread-local on/off flag with a value; `on()` nests and restores what was there before."""

    def __init__(self):
        self._local = threading.local()

    @contextlib.contextmanager
    def on(self, value=True):
        """Within this block, `active()` is True and `value()` is `value` in this thread."""
        before = getattr(self._local, "value", None)
        self._local.value = value
        try:
            yield
        finally:
            self._local.value = before

    def active(self) -> bool:
        """Whether the switch is on in this thread."""
        return self.value() is not None

    def value(self):
        """The value the switch was turned on with in this thread, or None while it is off."""
        return getattr(self._local, "value", None)
