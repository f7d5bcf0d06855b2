"""What a predictor process holds in memory, stage by stage: importing TensorFlow, importing
ktbert, `Predictor.load`, a warm-up call and a call on the 872 SST-2 dev sentences.

Each stage's resident memory (anonymous, and file-backed: the shared libraries' pages) and the
high-water mark so far are read from /proc/self/status in one fresh process, with which of the
heavy packages (TensorFlow, Keras, keras-hub, matplotlib, scipy, ...) are loaded by then, on a predictor saved here (the default encoder,
maxlen 128, an untrained head: memory does not depend on training). PyTorch's process for the
same prediction is in speed.json (`peak_rss_mib`). Writes docs/benchmarks/predictor_memory.md
and .json.

    python benchmarks/predictor_memory.py [--data ../shared/data]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

from bench_common import DOCS, ROOT, cpu, ktbert_env, write_report

HEAVY = ("tensorflow", "keras", "keras_hub", "tensorflow_text", "matplotlib", "scipy", "sklearn", "pandas")


def status() -> dict:
    """This process's resident memory now and at its peak, MiB."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) // 1024
    return {"rss_mib": fields["VmRSS"], "peak_mib": fields["VmHWM"], "anon_mib": fields["RssAnon"],
            "file_mib": fields["RssFile"]}


def child(folder: str, texts_path: str) -> None:
    """The measured process: prints one JSON line per stage."""
    stages = []

    def stage(name):
        loaded = sorted(m for m in HEAVY if m in sys.modules)
        stages.append({"stage": name, **status(), "heavy_modules_loaded": loaded})

    stage("python started")
    import tensorflow  # noqa: F401

    stage("import tensorflow")
    import ktbert

    stage("import ktbert")
    predictor = ktbert.Predictor.load(folder)
    stage("Predictor.load")
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    predictor.predict(texts[:48])
    stage("warm-up call (48 texts)")
    predictor.predict(texts)
    stage(f"predict ({len(texts)} texts)")
    print(json.dumps(stages))


def markdown(result: dict) -> str:
    lines = [
        "# What a predictor process holds in memory",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores): one fresh "
        "process loads a saved predictor (the default encoder, maxlen 128) and predicts the 872 SST-2 dev "
        "sentences. Anonymous memory is what the process allocated; file-backed memory is the pages of "
        "shared libraries and files it mapped (both count in its resident size).",
        "",
        "| stage | resident MiB | anonymous | file-backed | peak so far | heavy modules loaded |",
        "|---|---|---|---|---|---|",
    ]
    for s in result["stages"]:
        lines.append(f"| {s['stage']} | {s['rss_mib']:,} | {s['anon_mib']:,} | {s['file_mib']:,} | {s['peak_mib']:,} | "
                     f"{', '.join(s['heavy_modules_loaded']) or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=DOCS)
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "TEXTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    dev = os.path.join(args.data, "sst2", "dev.tsv")
    if not os.path.isfile(dev):
        print(f"{os.path.abspath(args.data)} lacks sst2/dev.tsv: point --data at the shared data folder.")
        return 2
    with open(dev, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    texts, labels = [r["sentence"] for r in rows], [r["label"] for r in rows]
    with tempfile.TemporaryDirectory(prefix="ktbert-memory-") as scratch:
        folder, texts_path = os.path.join(scratch, "predictor"), os.path.join(scratch, "texts.json")
        code = ("import sys, json; sys.path.insert(0, %r); from bench_common import save_untrained_predictor; "
                "t, y = json.load(open(%r)); save_untrained_predictor(%r, t, y, maxlen=128)")
        with open(texts_path, "w", encoding="utf-8") as f:
            json.dump([texts, labels], f)
        subprocess.run([sys.executable, "-c", code % (os.path.dirname(__file__), texts_path, folder)],
                       env=ktbert_env(), check=True)
        with open(texts_path, "w", encoding="utf-8") as f:
            json.dump(texts, f)
        done = subprocess.run([sys.executable, __file__, "--child", folder, texts_path], env=ktbert_env(),
                              capture_output=True, text=True, check=True)
    result = {"command": "python benchmarks/predictor_memory.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
              "cpu": cpu(), "stages": json.loads(done.stdout.strip().splitlines()[-1])}
    write_report(args.out, "predictor_memory", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
