"""What each of the encoder's faster layer forms (`ktbert.model.fast_layers`) adds to a loaded
predictor's speed, side by side in one process.

For each dataset (speed.py's prediction texts: the 872 SST-2 dev sentences, 1,000 AG News test
descriptions, 200 IMDB test reviews at maxlen 256), a predictor on the default encoder (an
untrained head: speed does not depend on training) is saved, then loaded once per variant. Each
variant switches some layers back to Keras' own classes before its first call:
- `before`: Keras' attention, projections and layer norms (the frozen feed-forward GELU layers
  only: the predictor as it was before these forms);
- `+ attention`: `FastAttention`;
- `+ layer norms`: and `FusableLayerNorm`, fused in the frozen step;
- `+ projections` (the default): and the 2-D `FlatEinsumDense`/`FlatDense` products, frozen.
Each predictor runs `warm_up()` and one call on the whole list (the growth of the process's
resident memory over those is recorded), then the variants predict the texts `--rounds` times,
alternating; the table keeps each one's best call, with the largest probability difference
from `before` and the share of equal labels. Writes docs/benchmarks/fast_layers.md and .json.
Run it alone.

    python benchmarks/fast_layers.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import os
import sys
import tempfile
import time

import speed

ROUNDS = 5
VARIANTS = ("before", "+ attention", "+ layer norms", "+ projections")


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def keras_classes(model, variant: str) -> None:
    """Switches back to Keras' classes the layers `variant` does not use."""
    import keras

    from ktbert.model.attention import FastAttention
    from ktbert.model.keras_internals import nested_layers
    from ktbert.model.layer_norm import FusableLayerNorm
    from ktbert.model.projections import FlatDense, FlatEinsumDense

    used = VARIANTS[:VARIANTS.index(variant) + 1]
    back = {FastAttention: ("+ attention", keras.layers.MultiHeadAttention),
            FusableLayerNorm: ("+ layer norms", keras.layers.LayerNormalization),
            FlatEinsumDense: ("+ projections", keras.layers.EinsumDense),
            FlatDense: ("+ projections", keras.layers.Dense)}
    for layer in nested_layers(model):
        step, keras_class = back.get(type(layer), (None, None))
        if step is not None and step not in used:
            layer.__class__ = keras_class


def measure(name: str, data: str) -> dict:
    import numpy as np

    import ktbert

    texts, preproc, model = speed.untrained_classifier(name, data)
    maxlen = preproc.maxlen
    predictors, grew_mib, proba = {}, {}, {}
    with tempfile.TemporaryDirectory() as folder:
        ktbert.get_predictor(model, preproc).save(os.path.join(folder, "p"))
        for variant in VARIANTS:
            predictor = ktbert.Predictor.load(os.path.join(folder, "p"), batch_size=speed.PREDICT_BATCH)
            keras_classes(predictor.model, variant)
            before = resident_mib()
            predictor.warm_up()
            proba[variant] = predictor.predict(texts, return_proba=True)
            grew_mib[variant] = round(resident_mib() - before, 1)
            predictors[variant] = predictor
    seconds = {v: [] for v in VARIANTS}
    for _ in range(ROUNDS):
        for variant, predictor in predictors.items():
            start = time.perf_counter()
            predictor.predict(texts)
            seconds[variant].append(round(time.perf_counter() - start, 3))
    best = {v: min(s) for v, s in seconds.items()}
    base = proba["before"]
    return {"texts": len(texts), "maxlen": maxlen, "precision": model.backbone.dtype_policy.name,
            "seconds": seconds, "texts_per_s": {v: round(len(texts) / s, 1) for v, s in best.items()},
            "speedup": {v: round(best["before"] / s, 3) for v, s in best.items()},
            "resident_growth_mib": grew_mib,
            "max_proba_difference": {v: float(np.abs(p - base).max()) for v, p in proba.items()},
            "equal_labels": {v: float(np.mean(p.argmax(axis=1) == base.argmax(axis=1))) for v, p in proba.items()}}


def markdown(result: dict) -> str:
    lines = [
        "# The encoder's faster layer forms, one by one: a loaded predictor's speed",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        f"process, alternating, best of {ROUNDS} calls each, tokenization included; an untrained head on the "
        "default encoder. Each row adds one form to the row above it; `before` is the predictor as it was without "
        "them (frozen feed-forward GELU layers only). Memory: the process's resident memory growth over the "
        "variant's `warm_up()` and first call (its frozen constants and kernels' caches).",
        "",
        "| data | variant | texts/s | speed-up over before | memory growth MiB "
        "| largest probability difference from before | equal labels |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        for v in VARIANTS:
            lines.append(f"| {name} ({r['texts']:,} texts, maxlen {r['maxlen']}) | {v} | {r['texts_per_s'][v]} | "
                         f"{r['speedup'][v]:.2f}x | {r['resident_growth_mib'][v]:.0f} | "
                         f"{r['max_proba_difference'][v]:.2g} | {100 * r['equal_labels'][v]:.1f}% |")
    precision = {r["precision"] for r in result["datasets"].values()}
    lines += ["", f"Precision: {', '.join(sorted(precision))} (the default on this CPU). The probability differences "
              "are bfloat16 rounding where the precision is mixed_bfloat16; in float32 the forms agree with Keras' "
              "layers within 1e-5 (tests/model/test_fast_inference.py)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "fast_layers", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
