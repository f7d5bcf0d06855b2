"""TensorFlow's fast CPU kernels, asked for before TensorFlow loads.

TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/bf16 or AMX; on
AVX2-only CPUs a BERT training step ran 1.3x slower without them (1.6 s against 1.2 s at
16 x 128 tokens). The switch is an environment variable read once, when TensorFlow loads, so
`import ktbert` sets it (unless it is already set, or TensorFlow is already loaded): with the
variable below, the only thing ktbert does at import time, on purpose. Switch it off with `TF_ENABLE_ONEDNN_OPTS=0`
before importing ktbert.

It also runs TensorFlow's independent ops one at a time (`TF_NUM_INTEROP_THREADS=1`, Intel's
advice for one CPU socket): each op still uses every core, and prediction with the default
encoder ran 1.2-1.3x faster on 2 cores (SST-2 dev, 169 -> 199-217 texts/s). Set the variable
yourself to choose otherwise.
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
