"""The `ktbert` command line: train, evaluate, predict, embed, lr-find, export and serve.

A thin layer over the Python API. Each sub-command's handler lives in a module of its own that
is imported only when the sub-command runs, so `predict`, `embed`, `evaluate`, `export` and `serve` load
no training code. Bad input exits with code 2 and the Python API's message, never a traceback.

Examples:
```python
from ktbert.cli import main
main(["predict", "sentiment", "reviews.txt", "--proba"])   # what `ktbert predict ...` runs
```
"""

from __future__ import annotations

import importlib
import os
import sys

from ktbert.cli.parser import build_parser

# What bad input raises in the library: shown as one line, exit code 2. Anything else is a bug
# and keeps its traceback.
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError, FloatingPointError)  # the last: a diverged fit
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # as a shell reports a process ended by SIGPIPE (`ktbert predict ... | head`)


def main(argv=None) -> int:
    """Runs one `ktbert` command; returns its exit code.

    Args:
        argv: list of str or None. the arguments after `ktbert`; None reads `sys.argv`.

    Returns:
        int. 0 on success, 2 on bad input (with `ktbert <command>: error: <message>` on
        stderr), 130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage error (code 2)
        return exit_.code if isinstance(exit_.code, int) else 0
    # TensorFlow's C++ start-up notes would bury the output; set before TensorFlow loads.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    module, function = args.handler.split(":")
    try:
        handler = getattr(importlib.import_module(module), function)
        return handler(args) or 0
    except KeyboardInterrupt:
        print(f"ktbert {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except USER_ERRORS as err:
        if args.traceback:
            raise
        print(f"ktbert {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _silence_stdout() -> None:
    """The reader has gone: send what Python still flushes at exit nowhere, not to a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
