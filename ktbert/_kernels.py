"""TensorFlow's fast CPU kernels, asked for before TensorFlow loads.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/bf16 or AMX;
AVX2-only CPUs train slower without them (docs/benchmarks/kernels.md has the figures). The
switch is an environment variable read once, when TensorFlow loads, so `import ktbert` sets it
(unless it is already set, or TensorFlow is already loaded): the only thing ktbert does at
import time, on purpose. Switch it off with `TF_ENABLE_ONEDNN_OPTS=0` before importing ktbert.

ktbert used to set `TF_NUM_INTEROP_THREADS=1` as well (independent ops one at a time), which
once made prediction faster on 2 cores. With today's training step and frozen prediction step
it no longer does: measured on 2 cores in alternating processes, TensorFlow's own inter-op pool
(one thread per core) trained 1.1x (AG News) to 1.2x (SST-2) faster, and predicted as fast
(docs/benchmarks/kernels.md). Set the variable yourself to choose otherwise.
"""

from __future__ import annotations

import os
import sys

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


def prefer_fast_kernels() -> None:
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` unless the user chose, or TensorFlow already loaded."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(ONEDNN, "1")
