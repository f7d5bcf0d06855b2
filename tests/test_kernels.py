"""`import ktbert` asks for TensorFlow's oneDNN kernels before TensorFlow loads, unless told not to."""

import os
import subprocess
import sys

import pytest

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = ("import os, sys, ktbert; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
         "os.environ.get('TF_NUM_INTEROP_THREADS'), 'tensorflow' in sys.modules)")


def run(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_NUM_INTEROP_THREADS")}
    environ.update(env)
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=environ,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_ktbert_turns_the_fast_kernels_on_without_loading_tensorflow():
    # The inter-op pool is TensorFlow's own (one thread per core): it trained faster than one thread.
    assert run(PROBE) == "1 None False"


@pytest.mark.parametrize("choice", ["0", "1"])
def test_a_users_choice_is_kept(choice):
    assert run(PROBE, TF_ENABLE_ONEDNN_OPTS=choice) == f"{choice} None False"
    assert run(PROBE, TF_NUM_INTEROP_THREADS="1") == "1 1 False"


def test_nothing_is_set_once_tensorflow_has_loaded():
    code = ("import tensorflow, os, ktbert; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), "
            "os.environ.get('TF_NUM_INTEROP_THREADS'))")
    assert run(code) == "None None"
