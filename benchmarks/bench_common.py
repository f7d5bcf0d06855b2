"""What the benchmarks share: the CPU and memory readings their reports carry, the `ktbert serve`
child the service benchmarks measure, and the predictors they build (through ktbert's public API).

Standard library only at import time: `speed_torch.py` imports it (through `speed_common.py`)
under the benchmark's PyTorch environment, which has neither ktbert nor TensorFlow; whatever
needs them imports them inside the function.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCS = os.path.join(ROOT, "docs", "benchmarks")
# The instructions TensorFlow's fast CPU kernels use, as /proc/cpuinfo names them.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16")


# === CPU ===

def write_report(out: str, stem: str, result: dict, text: str) -> None:
    """Writes a benchmark's figures to `out`/`stem`.json and its page to `stem`.md, and prints the page."""
    import json

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.json"), "w") as f:
        json.dump(result, f, indent=2)
    with open(os.path.join(out, f"{stem}.md"), "w") as f:
        f.write(text)
    print(text)


def read_cpu() -> tuple[str, set]:
    """The CPU's model name and feature flags, from /proc/cpuinfo (its first processor); where
    that cannot be read (not Linux), the platform's processor name and no flags."""
    model, flags = platform.processor() or platform.machine() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, flags


def cpu() -> dict:
    """The CPU line of a report: `{"model", "cores", "flags"}`, with the cores as the OS counts
    them and those of `CPU_FLAGS` the CPU has."""
    model, flags = read_cpu()
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in CPU_FLAGS if f in flags]}


# === Memory ===

def process_memory_kib(pid: int, field: str = "VmRSS") -> int | None:
    """A memory field of /proc/<pid>/status in KiB: `VmRSS` (resident now) or `VmHWM` (the most
    resident so far); None where it cannot be read (the process has ended, or not Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_kib(children: bool = False) -> int:
    """The kernel's high-water mark of resident memory (`getrusage`; Linux reports KiB): this
    process's, or with `children` the largest of its ended children's that were waited for."""
    return resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss


# === The service ===

# One short text per request: what the service benchmarks send and build their predictor on.
SERVE_TEXTS = [
    "a gripping, beautifully acted film", "dull and far too long", "the plot never comes together",
    "one of the best films of the year", "i wanted to leave after twenty minutes", "charming and funny",
    "the actors seem bored", "a small masterpiece", "not worth the ticket", "warm, sharp and moving",
    "the dialogue is painfully flat", "an honest, tender story",
]
# Where serve_load.py's section of docs/benchmarks/serve.md starts; serve.py keeps it on rewriting.
LOAD_SECTION = "<!-- serve_load.py: start -->"


def ktbert_env(**extra: str) -> dict:
    """The environment of a child that runs this checkout's ktbert: the project on PYTHONPATH,
    TensorFlow's start-up messages off, and `extra` (e.g. `KTBERT_PRECISION="float32"`)."""
    return {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(model: str, port: int, options: dict | None = None) -> list:
    """`python -m ktbert serve MODEL` on 127.0.0.1:`port`, each of `options` as its flag
    (`max_queue=256` as `--max-queue 256`)."""
    command = [sys.executable, "-m", "ktbert", "serve", model, "--host", "127.0.0.1", "--port", str(port)]
    for name, value in (options or {}).items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the benchmark dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def service(command, *, env: dict | None = None, log_path: str | None = None, start_timeout: float = 300):
    """The service in a child process on a free port of 127.0.0.1, `command(port)` its command
    line (`serve_command`, say). Waits until it answers GET /health, yields `(url, pid)`, and
    stops it on exit (terminate, then kill after 30 s), on error and on Ctrl-C alike; it also
    gets SIGTERM if this process dies. Its output goes to `log_path` (default: a temporary
    file) and is shown when it does not start. `env` defaults to `ktbert_env()`."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w+b") if log_path else tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command(port), stdout=log, stderr=subprocess.STDOUT,
                                   env=ktbert_env() if env is None else env, preexec_fn=_die_with_parent)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    # pread leaves the file offset, which the child shares, where it is.
                    output = os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0)
                    raise RuntimeError(f"the service did not start:\n{output.decode('utf-8', 'replace')[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                time.sleep(0.2)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


# === Batch widths ===
@contextlib.contextmanager
def widths_rounded_to(multiple: int):
    """Within it, bucketed batches (training, evaluation, resumed training and prediction) are
    padded to widths rounded up to `multiple`, whatever the model's precision (ktbert's own
    choices are `ktbert.data.batching.width_multiple` and
    `ktbert.data.prediction.prediction_multiple`): for benchmarks that compare multiples."""
    import ktbert.data.batching as batching
    import ktbert.data.prediction as prediction
    import ktbert.data.resumed_batches as resumed

    chosen = {(module, name): getattr(module, name) for module, name in (
        (batching, "width_multiple"), (resumed, "width_multiple"), (prediction, "prediction_multiple"))}

    def forced(x, bucketing, model=None):
        return multiple if bucketing else x.maxlen

    for module, name in chosen:
        setattr(module, name, forced)
    try:
        yield
    finally:
        for (module, name), function in chosen.items():
            setattr(module, name, function)


# === Predictors ===

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "##s", "##ly",
              "good", "great", "fine", "wonderful", "love", "bad", "awful", "poor", "boring", "hate",
              "the", "a", "film", "movie", "was", "is", "it", "this", "plot", "acting", "cafe", "and"]


def make_tiny_encoder(folder: str, num_layers: int = 2, hidden_dim: int = 16, max_sequence_length: int = 64) -> str:
    """Writes a random tiny BERT and its vocabulary as a keras-hub preset folder, loaded by the
    same path as the real encoder, so that a smoke run takes seconds; returns the folder."""
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
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=TINY_VOCAB, lowercase=True)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return str(folder)


def save_untrained_predictor(folder: str, texts: list, labels: list, *, maxlen: int, encoder: str = "default",
                             class_names: list | None = None) -> None:
    """Saves into `folder` a predictor on `encoder` with an untrained head, built on `texts` and
    `labels` through ktbert's public API: for measuring speed and memory, where the head's
    answers do not matter."""
    import ktbert

    trn, _, preproc = ktbert.texts_from_array(texts, labels, x_test=texts, y_test=labels, class_names=class_names,
                                              maxlen=maxlen, encoder=encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    ktbert.get_predictor(model, preproc).save(folder)


def save_serving_predictor(folder: str, tiny: bool = False) -> None:
    """Saves the predictor the service benchmarks serve into `folder`: the default encoder (a
    tiny random one with `tiny`) at maxlen 64, untrained head, on `SERVE_TEXTS`."""
    labels = [i % 2 for i in range(len(SERVE_TEXTS))]
    with tempfile.TemporaryDirectory(prefix="ktbert_tiny_") as scratch:  # the save does not need it after
        encoder = make_tiny_encoder(scratch) if tiny else "default"
        save_untrained_predictor(folder, SERVE_TEXTS, labels, maxlen=64, encoder=encoder, class_names=["neg", "pos"])


def build_serving_predictor(folder: str, tiny: bool = False, env: dict | None = None, timeout: float = 900) -> str:
    """`save_serving_predictor` in a child process, so that this one loads no TensorFlow (the
    service benchmarks' clients share the CPU with the server); returns its description for the
    report. `env` defaults to `ktbert_env()`."""
    code = f"import sys\nsys.path.insert(0, {HERE!r})\nimport bench_common\n" \
           f"bench_common.save_serving_predictor({folder!r}, tiny={tiny!r})\n"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout, env=ktbert_env() if env is None else env)
    return ("the tests' tiny random encoder" if tiny else "default encoder (all-MiniLM-L6-v2)") + \
        ", maxlen 64, untrained head"
