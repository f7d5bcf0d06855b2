"""Batch widths rounded up to different multiples (8 and 4 by default), side by side in one process.

For each dataset (speed.py's training and prediction sizes), one learner on the default encoder
trains whole epochs with bucketed batch widths rounded up to each multiple in turn
(`bench_common.widths_rounded_to`, whatever the model's precision; otherwise a float32 model
rounds to 1 and a bf16 one to 8 in training, and only a float16 one rounds, to 8, in
prediction): a warm-up epoch per multiple (it runs
that multiple's widths for the first time; the first multiple's also traces the step), then
`ROUNDS` timed `learner.fit(2e-5, 1)` calls per multiple, alternating, so that the VM's drift
falls on all. A predictor on the trained model predicts the prediction texts the same way
(warm-up call, then alternating calls; at multiple 1 in the plan of `cheapest_batches`, else of
`token_budget_batches`, as ktbert chooses for each). Recorded: each warm-up epoch, the best whole
`fit` call and prediction call per multiple, the padded tokens of one epoch, and the batch
widths an epoch runs. Writes width_multiple.md and .json (in docs/benchmarks, or `--out`). Run
it alone.

    python benchmarks/width_multiple.py [--multiples 8,4] [--datasets sst2,agnews,imdb] [--data ../shared/data]
        [--out docs/benchmarks]
"""

import sys
import time

import speed
from bench_common import widths_rounded_to

MULTIPLES = (8, 4)
ROUNDS = 2


def epoch_shapes(learner) -> tuple:
    shapes = [tuple(inputs["token_ids"].shape) for inputs, _ in learner._train_dataset()]
    return sum(b * s for b, s in shapes), sorted({s for _, s in shapes})


def measure(name: str, data: str, multiples=MULTIPLES) -> dict:
    import pandas as pd

    import ktbert

    n_train, n_predict, maxlen = speed.SIZES[name]
    train_texts, train_labels, texts, _ = speed.load_dataset(name, data, n_train, n_predict)
    frame = pd.DataFrame({"text": train_texts, "label": train_labels})
    trn, _, preproc = ktbert.texts_from_df(frame, "text", label_columns="label", val_df=frame.head(8),
                                           maxlen=maxlen, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=speed.SEED, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, batch_size=speed.TRAIN_BATCH,
                                 eval_batch_size=speed.PREDICT_BATCH)
    predictor = ktbert.get_predictor(learner.model, preproc, batch_size=speed.PREDICT_BATCH)
    fit_s, predict_s = {m: [] for m in multiples}, {m: [] for m in multiples}
    tokens, widths, warm_up_s = {}, {}, {}
    for multiple in multiples:  # warm-up: each multiple's widths run for the first time
        with widths_rounded_to(multiple):
            start = time.perf_counter()
            learner.fit(speed.LR, 1, verbose=0)
            warm_up_s[multiple] = time.perf_counter() - start
            predictor.predict(texts)
            tokens[multiple], widths[multiple] = epoch_shapes(learner)
    for _ in range(ROUNDS):
        for multiple in multiples:
            with widths_rounded_to(multiple):
                start = time.perf_counter()
                learner.fit(speed.LR, 1, verbose=0)
                fit_s[multiple].append(time.perf_counter() - start)
                start = time.perf_counter()
                predictor.predict(texts)
                predict_s[multiple].append(time.perf_counter() - start)
    best = lambda seconds: {str(m): round(min(s), 2) for m, s in seconds.items()}  # noqa: E731
    first = multiples[0]
    return {"train_texts": n_train, "predict_texts": len(texts), "maxlen": maxlen,
            "precision": learner.model.backbone.dtype_policy.name,
            "warm_up_fit_call_s": {str(m): round(s, 2) for m, s in warm_up_s.items()},
            "fit_call_s": {str(m): [round(x, 2) for x in s] for m, s in fit_s.items()},
            "predict_call_s": {str(m): [round(x, 3) for x in s] for m, s in predict_s.items()},
            "best_fit_call_s": best(fit_s), "best_predict_call_s": best(predict_s),
            "padded_tokens": {str(m): t for m, t in tokens.items()},
            "widths": {str(m): w for m, w in widths.items()},
            "train_speedup": {str(m): round(min(fit_s[first]) / min(fit_s[m]), 3) for m in multiples},
            "predict_speedup": {str(m): round(min(predict_s[first]) / min(predict_s[m]), 3) for m in multiples}}


def markdown(result: dict) -> str:
    multiples = [str(m) for m in result["multiples"]]
    first, rest, each = multiples[0], multiples[1:], " / ".join(multiples)
    lines = [
        f"# Batch widths rounded up to a multiple of {each}",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores, flags: "
        f"{', '.join(result['cpu']['flags'])}): one learner per dataset, one warm-up epoch per multiple (the "
        f"first multiple's also traces the step), then {ROUNDS} whole `fit(2e-5, 1)` calls and {ROUNDS} "
        f"prediction calls per multiple, alternating; best of each. Speed-up: how much faster than multiple "
        f"{first}. Prediction at multiple 1 cuts its batches with `cheapest_batches`, at other multiples "
        "with `token_budget_batches`, as ktbert does.",
        "",
        f"| data | precision | padded tokens per epoch ({each}) | widths run ({each}) | warm-up epoch s ({each}) "
        f"| fit s ({each}) | training speed-up ({', '.join(rest)}) | predict s ({each}) "
        f"| prediction speed-up ({', '.join(rest)}) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        row = lambda values: " / ".join(str(values[m]) for m in multiples)  # noqa: E731
        ratios = lambda values: " / ".join(f"{values[m]:.2f}x" for m in rest)  # noqa: E731
        tokens = " / ".join(f"{r['padded_tokens'][m]:,}" for m in multiples)
        lines.append(f"| {name} ({r['train_texts']:,} / {r['predict_texts']:,} texts, maxlen {r['maxlen']}) "
                     f"| {r['precision']} | {tokens} "
                     f"| {row({m: len(w) for m, w in r['widths'].items()})} | {row(r['warm_up_fit_call_s'])} "
                     f"| {row(r['best_fit_call_s'])} | {ratios(r['train_speedup'])} "
                     f"| {row(r['best_predict_call_s'])} | {ratios(r['predict_speedup'])} |")
    return "\n".join(lines) + "\n"


def parse_multiples(text: str):
    """Two or more different positive integers from "8,4", or None."""
    try:
        multiples = tuple(int(m) for m in text.split(","))
    except ValueError:
        return None
    return multiples if len(multiples) >= 2 and min(multiples) >= 1 and len(set(multiples)) == len(multiples) else None


def main(argv=None) -> int:
    return speed.per_dataset_comparison_main(argv, __doc__, "width_multiple", measure, markdown, flag="--multiples",
                                             default=",".join(map(str, MULTIPLES)), parse=parse_multiples,
                                             usage="two or more different positive integers")


if __name__ == "__main__":
    sys.exit(main())
