"""A loaded predictor (weights frozen into the prediction step's graph, `ktbert.model.frozen`)
against a predictor sharing the same model's variables, side by side in one process.

For each dataset (speed.py's prediction texts: the 872 SST-2 dev sentences, 1,000 AG News test
descriptions, 200 IMDB test reviews at maxlen 256), a predictor on the default encoder (an
untrained head: speed does not depend on training) is saved and loaded back. The loaded one
(frozen) and one made by `get_predictor` on the original model (variables) predict the texts
three times each, alternating, after `warm_up()` (as `ktbert serve` does at start-up; a loaded
predictor freezes its weights there). Recorded:
- each one's `warm_up()` and first call on the whole text list, in this process (the frozen
  one's include building its snapshot and tracing it);
- the best of the three steady calls;
- the largest probability difference between them, and the share of equal labels.
Writes docs/benchmarks/frozen_weights.md and .json. Run it alone.

    python benchmarks/frozen_weights.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import os
import sys
import tempfile
import time

import speed

ROUNDS = 3


def timed(predictor, texts):
    start = time.perf_counter()
    proba = predictor.predict(texts, return_proba=True)
    return time.perf_counter() - start, proba


def measure(name: str, data: str) -> dict:
    import numpy as np

    import ktbert

    texts, preproc, model = speed.untrained_classifier(name, data)
    maxlen = preproc.maxlen
    shared = ktbert.get_predictor(model, preproc, batch_size=speed.PREDICT_BATCH)
    with tempfile.TemporaryDirectory() as folder:
        shared.save(os.path.join(folder, "p"))
        loaded = ktbert.Predictor.load(os.path.join(folder, "p"), batch_size=speed.PREDICT_BATCH)
    predictors = {"variables": shared, "frozen": loaded}
    first, seconds, proba = {}, {k: [] for k in predictors}, {}
    for mode, predictor in predictors.items():
        start = time.perf_counter()
        predictor.warm_up()  # the loaded one freezes its weights here
        seconds_warm_up = time.perf_counter() - start
        first[mode], proba[mode] = timed(predictor, texts)
        first[mode] += seconds_warm_up
    for _ in range(ROUNDS):
        for mode, predictor in predictors.items():
            s, proba[mode] = timed(predictor, texts)
            seconds[mode].append(s)
    a, b = proba["variables"], proba["frozen"]
    return {"texts": len(texts), "maxlen": maxlen, "precision": loaded.model.backbone.dtype_policy.name,
            "first_call_s": {k: round(v, 3) for k, v in first.items()},
            "seconds": {k: [round(s, 3) for s in v] for k, v in seconds.items()},
            "variables_texts_per_s": round(len(texts) / min(seconds["variables"]), 1),
            "frozen_texts_per_s": round(len(texts) / min(seconds["frozen"]), 1),
            "speedup": round(min(seconds["variables"]) / min(seconds["frozen"]), 3),
            "max_proba_difference": float(np.abs(a - b).max()),
            "equal_labels": float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))}


def markdown(result: dict) -> str:
    lines = [
        "# Prediction with the weights frozen into the graph (a loaded predictor), against variables",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        f"process, alternating, best of {ROUNDS} steady calls each, tokenization included. The first call is "
        "each predictor's `warm_up()` and first call on the whole list in this process (the frozen one builds "
        "its snapshot in `warm_up()`).",
        "",
        "| data | texts | variables, texts/s | frozen, texts/s | speed-up "
        "| warm-up and first call s (variables / frozen) "
        "| largest probability difference | equal labels | precision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        f = r["first_call_s"]
        lines.append(f"| {name} (maxlen {r['maxlen']}) | {r['texts']:,} | {r['variables_texts_per_s']} | "
                     f"{r['frozen_texts_per_s']} | {r['speedup']:.2f}x | {f['variables']:.2f} / {f['frozen']:.2f} | "
                     f"{r['max_proba_difference']:.2g} | {100 * r['equal_labels']:.1f}% | {r['precision']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "frozen_weights", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
