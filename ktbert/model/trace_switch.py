"""A switch that layers read while a step is traced (`ktbert.model.frozen` turns its switches on
around the trace): on within `with switch.on():`, in that thread only, so a step traced at the
same time in another thread is not affected."""

from __future__ import annotations

import contextlib
import threading


class TraceSwitch:
    """A thread-local on/off flag; `on()` nests and restores what was there before."""

    def __init__(self):
        self._local = threading.local()

    @contextlib.contextmanager
    def on(self):
        """Within this block, `active()` is True in this thread."""
        before = self.active()
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = before

    def active(self) -> bool:
        """Whether the switch is on in this thread."""
        return getattr(self._local, "on", False)
