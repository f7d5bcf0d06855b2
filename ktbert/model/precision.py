"""Which number format the encoder computes in: float32, mixed bfloat16 on CPUs made for it, or
mixed float16 on GPUs.

Mixed bfloat16 makes training steps and prediction faster on CPUs with bf16 instructions at
the same accuracy (docs/benchmarks/kernels.md has the figures). Weights stay float32 (only the
arithmetic is bfloat16) and the classifier head always computes in float32.

The default is "auto": mixed_float16 where a GPU is visible (its tensor cores compute float16;
the optimizer then scales the loss, `ktbert.model.compiling`), mixed_bfloat16 where the CPU has
bf16 instructions (`avx512_bf16` or `amx_bf16`), float32 elsewhere (bfloat16 arithmetic without
those instructions is emulated, and slow). `precision="float32"` (or `KTBERT_PRECISION=float32`
in the environment, for every model a process builds) switches it off; float32 results agree to
1e-5 across batchings and machines, bfloat16 ones to about 1e-2.
"""

from __future__ import annotations

import os

from ktbert.checks import check_choice

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
PRECISION_ENV = "KTBERT_PRECISION"  # the default precision of every model a process builds
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision: str) -> str:
    """`precision` if it is one of `PRECISIONS`, else a ValueError naming them."""
    return check_choice(precision, PRECISIONS, "precision")


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bfloat16 natively (Linux; False where it cannot tell)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return any(flag in line.split() for flag in BF16_FLAGS)
    except OSError:
        pass
    return False


def gpu_visible() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def default_precision() -> str:
    """`KTBERT_PRECISION` from the environment, else "auto"."""
    value = os.environ.get(PRECISION_ENV, "auto")
    return check_choice(value, PRECISIONS, PRECISION_ENV, f"Set the environment variable {PRECISION_ENV} to one "
                        "of them, or unset it")


def resolve_precision(precision: str | None = None, cpuinfo: str = "/proc/cpuinfo") -> str:
    """The Keras dtype policy name for `precision` (None: `default_precision()`; "auto"
    decided for this machine)."""
    if precision is None:
        precision = default_precision()
    if check_precision(precision) != "auto":
        return precision
    if gpu_visible():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16(cpuinfo) else "float32"


def loading_policy(saved: str, precision: str | None = None) -> str:
    """The policy a saved model is rebuilt with: `precision` when given, else `KTBERT_PRECISION`
    when set ("auto" decided for this machine), else the saved one, unless that is a mixed
    precision this machine would not choose by itself ("auto" picks another): then float32. A
    model never moves from one half type to the other: activations of a bfloat16-trained model
    can overflow float16's far smaller range."""
    if precision is None and PRECISION_ENV in os.environ:
        precision = default_precision()
    if precision is not None:
        return resolve_precision(precision)
    if saved in ("mixed_bfloat16", "mixed_float16"):
        return saved if resolve_precision("auto") == saved else "float32"
    return saved
