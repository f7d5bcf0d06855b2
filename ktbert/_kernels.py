"""TensorFlow's fast CPU kernels, asked for before TensorFlow loads.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/bf16 or AMX;
AVX2-only CPUs train slower without them (docs/benchmarks/kernels.md has the figures). The
switch is an environment variable read once, when TensorFlow loads, so
`import ktbert` sets it (unless it is already set, or TensorFlow is already loaded): with the
variable below, the only thing ktbert does at import time, on purpose. Switch it off with `TF_ENABLE_ONEDNN_OPTS=0`
before importing ktbert.

It also runs TensorFlow's independent ops one at a time (`TF_NUM_INTEROP_THREADS=1`, Intel's
advice for one CPU socket): each op still uses every core, which made prediction faster on
2 cores. Set the variable yourself to choose otherwise.
"""

from __future__ import annotations

import os
import sys

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
INTEROP = "TF_NUM_INTEROP_THREADS"


def prefer_fast_kernels() -> None:
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` and `TF_NUM_INTEROP_THREADS=1` unless the user chose, or
    TensorFlow already loaded."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(ONEDNN, "1")
        os.environ.setdefault(INTEROP, "1")
