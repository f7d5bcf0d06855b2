"""`ktbert export` and `ktbert serve`: a saved predictor as a TensorFlow SavedModel or ONNX, or behind HTTP.

Both start from the saved folder and load no training code; `serve` checks the folder before
it loads the web stack, which comes with the optional `serve` extra.
"""

from __future__ import annotations

import os

from ktbert.serve.factories import load_predictor
from ktbert.saving.manifest import read_manifest

SERVE_EXTRA = ("fastapi", "uvicorn", "starlette", "pydantic", "h11")
SERVE_OPTIONS = ("max_batch", "max_wait_ms", "max_texts", "max_bytes", "max_queue", "header_timeout", "body_timeout",
                 "drain_timeout", "drain_delay", "api_key_file", "cors_origins", "quantize")


def export(args) -> int:
    """`ktbert export`: `load_predictor(MODEL_DIR).export(OUT_DIR, format=FORMAT)`."""
    if os.path.abspath(args.out_dir) == os.path.abspath(args.model_dir):
        raise ValueError(f"OUT_DIR is MODEL_DIR ({args.model_dir!r}): the export would replace the saved "
                         "predictor. Give another folder.")
    fmt = getattr(args, "format", "savedmodel")
    folder = load_predictor(args.model_dir).export(args.out_dir, format=fmt)
    print(f"exported {'an ONNX model' if fmt == 'onnx' else 'a SavedModel'} to {folder}")
    return 0


def serve(args) -> int:
    """`ktbert serve`: runs the HTTP service until SIGTERM or Ctrl-C."""
    read_manifest(args.model_dir)  # a wrong folder is told now, not after the web stack loads
    # Only the options given: the service's own defaults for the rest.
    options = {name: getattr(args, name) for name in SERVE_OPTIONS if getattr(args, name, None) is not None}
    try:
        from ktbert.serve.service import serve as run_service

        run_service(args.model_dir, host=args.host, port=args.port, micro_batching=args.micro_batching, **options)
    except ImportError as err:
        missing = _missing_extra(err)
        if missing is None:
            raise
        raise ValueError(f"ktbert serve needs the serve extra: pip install 'ktbert[serve]' "
                         f"({missing} is not installed).") from None
    return 0


def _missing_extra(err: ImportError):
    """The serve extra's package whose absence caused `err` (itself or what it was raised from)."""
    while err is not None:
        if isinstance(err, ModuleNotFoundError) and (err.name or "").split(".")[0] in SERVE_EXTRA:
            return err.name.split(".")[0]
        err = err.__cause__ or err.__context__
    return None
