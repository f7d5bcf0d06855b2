"""Batch widths rounded up to a multiple of 8 against a multiple of 4, side by side in one process.

For each dataset (speed.py's training and prediction sizes), one learner on the default encoder
trains whole epochs with `ktbert.data.batching.PAD_MULTIPLE` set to each multiple in turn:
a warm-up epoch per multiple (it traces that multiple's widths), then `ROUNDS` timed
`learner.fit(2e-5, 1)` calls per multiple, alternating, so that the VM's drift falls on both.
A predictor on the trained model predicts the prediction texts the same way (warm-up call,
then alternating calls). Recorded: the best whole `fit` call and prediction call per multiple,
the padded tokens of one epoch, and the batch widths an epoch traces.
Writes docs/benchmarks/width_multiple.md and .json. Run it alone.

    python benchmarks/width_multiple.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import sys
import time

import speed

MULTIPLES = (8, 4)
ROUNDS = 2


def epoch_shapes(learner) -> tuple:
    shapes = [tuple(inputs["token_ids"].shape) for inputs, _ in learner._train_dataset()]
    return sum(b * s for b, s in shapes), sorted({s for _, s in shapes})


def measure(name: str, data: str) -> dict:
    import pandas as pd

    import ktbert
    import ktbert.data.batching as batching

    n_train, n_predict, maxlen = speed.SIZES[name]
    train_texts, train_labels, texts, _ = speed.load_dataset(name, data, n_train, n_predict)
    frame = pd.DataFrame({"text": train_texts, "label": train_labels})
    trn, _, preproc = ktbert.texts_from_df(frame, "text", label_columns="label", val_df=frame.head(8),
                                           maxlen=maxlen, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=speed.SEED, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, batch_size=speed.TRAIN_BATCH,
                                 eval_batch_size=speed.PREDICT_BATCH)
    predictor = ktbert.get_predictor(learner.model, preproc, batch_size=speed.PREDICT_BATCH)
    original = batching.PAD_MULTIPLE
    fit_s, predict_s = {m: [] for m in MULTIPLES}, {m: [] for m in MULTIPLES}
    tokens, widths = {}, {}
    try:
        for multiple in MULTIPLES:  # warm-up: trace each multiple's widths
            batching.PAD_MULTIPLE = multiple
            learner.fit(speed.LR, 1, verbose=0)
            predictor.predict(texts)
            tokens[multiple], widths[multiple] = epoch_shapes(learner)
        for _ in range(ROUNDS):
            for multiple in MULTIPLES:
                batching.PAD_MULTIPLE = multiple
                start = time.perf_counter()
                learner.fit(speed.LR, 1, verbose=0)
                fit_s[multiple].append(time.perf_counter() - start)
                start = time.perf_counter()
                predictor.predict(texts)
                predict_s[multiple].append(time.perf_counter() - start)
    finally:
        batching.PAD_MULTIPLE = original
    best = lambda seconds: {str(m): round(min(s), 2) for m, s in seconds.items()}  # noqa: E731
    a, b = MULTIPLES
    return {"train_texts": n_train, "predict_texts": len(texts), "maxlen": maxlen,
            "fit_call_s": {str(m): [round(x, 2) for x in s] for m, s in fit_s.items()},
            "predict_call_s": {str(m): [round(x, 3) for x in s] for m, s in predict_s.items()},
            "best_fit_call_s": best(fit_s), "best_predict_call_s": best(predict_s),
            "padded_tokens": {str(m): t for m, t in tokens.items()},
            "widths": {str(m): w for m, w in widths.items()},
            "train_speedup": round(min(fit_s[a]) / min(fit_s[b]), 3),
            "predict_speedup": round(min(predict_s[a]) / min(predict_s[b]), 3)}


def markdown(result: dict) -> str:
    a, b = (str(m) for m in MULTIPLES)
    lines = [
        f"# Batch widths rounded up to a multiple of {a} against {b}",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores): one "
        f"learner per dataset, one warm-up epoch per multiple, then {ROUNDS} whole `fit(2e-5, 1)` calls and "
        f"{ROUNDS} prediction calls per multiple, alternating; best of each. Multiple {b} / {a}: how much faster "
        f"{b} is.",
        "",
        f"| data | padded tokens per epoch ({a} / {b}) | widths traced ({a} / {b}) | fit s ({a} / {b}) "
        f"| training speed-up | predict s ({a} / {b}) | prediction speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        t, w, f, p = r["padded_tokens"], r["widths"], r["best_fit_call_s"], r["best_predict_call_s"]
        lines.append(f"| {name} ({r['train_texts']:,} / {r['predict_texts']:,} texts, maxlen {r['maxlen']}) "
                     f"| {t[a]:,} / {t[b]:,} | {len(w[a])} / {len(w[b])} | {f[a]} / {f[b]} "
                     f"| {r['train_speedup']:.2f}x | {p[a]} / {p[b]} | {r['predict_speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "width_multiple", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
