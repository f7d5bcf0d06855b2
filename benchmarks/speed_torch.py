"""The PyTorch side of the speed benchmark: one measurement per process, run by `speed.py`
under the benchmark's own environment (benchmarks/.venv-torch, torch CPU build +
transformers), never imported by ktbert.

    python speed_torch.py peak --result R.json
    python speed_torch.py train --task T.json --result R.json --encoder DIR --padding max|dynamic [--warmup-batches N]
    python speed_torch.py predict --task T.json --result R.json --encoder DIR --padding max|dynamic

`--padding max` pads every batch to maxlen; `dynamic` is Hugging Face's best documented CPU
setting: training batches from `LengthGroupedSampler` (`group_by_length=True` in the Trainer)
padded by `DataCollatorWithPadding` to their longest text; prediction on texts sorted by
length, each batch padded to its longest. The training loop is the Trainer's essentials:
AdamW at a constant rate, dropout on, cross-entropy from the model's head.
"""

import os
import sys
import time

import torch

import speed_common as common


def load(encoder: str, num_labels: int):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # the "newly initialized classifier" report, every run
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=num_labels)
    return tokenizer, model


def train(task: dict, args) -> dict:
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    tokenizer, model = load(args.encoder, len(task["class_names"]))
    maxlen, batch_size = task["maxlen"], task["train_batch_size"]
    # Tokenized up front, as Trainer users map their dataset (and as ktbert's loader does).
    encoded = tokenizer(task["train_texts"], truncation=True, max_length=maxlen)
    features = [{**{k: v[i] for k, v in encoded.items()}, "labels": y} for i, y in enumerate(task["train_labels"])]
    generator = torch.Generator().manual_seed(task["seed"])
    if args.padding == "max":
        collator = DataCollatorWithPadding(tokenizer, padding="max_length", max_length=maxlen)
        sampler = RandomSampler(features, generator=generator)
    else:
        collator = DataCollatorWithPadding(tokenizer)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    loader = DataLoader(features, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
                        collate_fn=collator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=task["lr"], weight_decay=0.0)
    model.train()

    def epoch(limit: int) -> list:
        shapes = []
        for step, batch in enumerate(loader):
            if 0 <= limit <= step:
                break
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            shapes.append(tuple(batch["input_ids"].shape))
        return shapes

    epoch(args.warmup_batches)
    start = time.perf_counter()
    shapes = epoch(common.FULL_EPOCH)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "examples": len(features), **common.batch_shape_totals(shapes)}


def predict(task: dict, args) -> dict:
    tokenizer, model = load(args.encoder, len(task["class_names"]))
    maxlen, batch_size = task["maxlen"], task["predict_batch_size"]
    names = task["class_names"]
    model.eval()

    def classify(texts: list) -> list:
        with torch.inference_mode():
            if args.padding == "max":
                chunks = []
                for i in range(0, len(texts), batch_size):
                    batch = tokenizer(texts[i : i + batch_size], truncation=True, max_length=maxlen,
                                      padding="max_length", return_tensors="pt")
                    chunks.append(model(**batch).logits.softmax(-1))
                proba = torch.cat(chunks)
            else:
                encoded = tokenizer(texts, truncation=True, max_length=maxlen)
                order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
                proba = torch.empty(len(texts), len(names))
                for i in range(0, len(order), batch_size):
                    rows = order[i : i + batch_size]
                    batch = tokenizer.pad([{k: v[r] for k, v in encoded.items()} for r in rows], return_tensors="pt")
                    proba[rows] = model(**batch).logits.softmax(-1)
        return [names[k] for k in proba.argmax(-1).tolist()]

    texts = task["predict_texts"]
    classify(texts[: common.PREDICT_WARMUP_TEXTS])
    start = time.perf_counter()
    classify(texts)
    return {"seconds": time.perf_counter() - start, "texts": len(texts)}


def peak(task, args) -> dict:
    n = common.MATMUL_SIZE
    a, b = torch.randn(n, n), torch.randn(n, n)
    return {"matmul_gflops": common.matmul_gflops(lambda: torch.mm(a, b))}


def versions() -> dict:
    import tokenizers
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_cuda": torch.version.cuda,
    }


def main(argv=None):
    parser = common.worker_parser(__doc__)
    parser.add_argument("--encoder")
    parser.add_argument("--padding", choices=["max", "dynamic"], default="dynamic")
    args = parser.parse_args(argv)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use
    torch.manual_seed(0)
    return common.run_measurement(args, {"train": train, "predict": predict, "peak": peak}, versions)


if __name__ == "__main__":
    sys.exit(main())
