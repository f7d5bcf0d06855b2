"""What the encoder's training forms save, one by one, side by side in one process: dropout
from 16 random bits (`ktbert.model.dropout.FastDropout`), the approximate GELU as one
compiled pass each way (`ktbert.model.gelu`) and the attention projections as 2-D products
(`ktbert.model.projections.FlatEinsumDense`) instead of einsums.

For each dataset (speed.py's training texts, the first `TEXTS` of its fixed-seed sample, at its
maxlen), one learner per variant on the default encoder with the same seed:
- `before`: Keras' `Dropout` and Keras' GELU (the feed-forward layers as plain `Dense`);
- `+ 16-bit dropout`: `FastDropout`;
- `+ compiled GELU`: and `GeluDense`'s compiled GELU;
- `+ 2-D projections` (the default): and the attention projections as 2-D products.
`--variants` runs some of them, by short name (before, dropout, gelu, projections), in this
order; speed-ups are over the first one run.
Each runs one warm-up `fit(2e-5, 1)` (traces and compiles), then all run `ROUNDS` whole
one-epoch `fit` calls, in turn (the order reverses every round); the table keeps each one's
median call, and each speed-up over `before` is the median of the rounds' own ratios. The
training loss of the last epoch is shown: the masks differ (the rate does not: 0.1 becomes
6554/65536) and the GELU rounds once instead of at each op. Writes
docs/benchmarks/training_forms.md and .json. Run it alone.

    python benchmarks/training_forms.py [--variants before,dropout,gelu,projections]
        [--datasets sst2,agnews,imdb] [--data ../shared/data] [--out docs/benchmarks]
"""

import statistics
import sys
import time

import speed

ROUNDS = 3
TEXTS = {"sst2": 2000, "agnews": 1000, "imdb": 300}
VARIANTS = ("before", "+ 16-bit dropout", "+ compiled GELU", "+ 2-D projections")
SHORT_NAMES = dict(zip(("before", "dropout", "gelu", "projections"), VARIANTS))  # for --variants


def measure(name: str, data: str, variants=VARIANTS) -> dict:
    import keras
    import pandas as pd

    import ktbert
    from ktbert.model.dropout import FastDropout
    from ktbert.model.feedforward import GeluDense
    from ktbert.model.keras_internals import nested_layers
    from ktbert.model.projections import FlatEinsumDense

    _, _, maxlen = speed.SIZES[name]
    texts, labels, val_texts, val_labels = speed.load_dataset(name, data, TEXTS[name], 64)
    trn, _, preproc = ktbert.texts_from_df(pd.DataFrame({"text": texts, "label": labels}), "text",
                                           label_columns="label", maxlen=maxlen, verbose=0,
                                           val_df=pd.DataFrame({"text": val_texts, "label": val_labels}))
    learners = {}
    for variant in variants:
        model = ktbert.text_classifier("bert", trn, preproc, verbose=0, seed=0)
        forms = VARIANTS[1:VARIANTS.index(variant) + 1]  # the forms this variant adds up to
        for layer in nested_layers(model.backbone):  # back to Keras' classes where the variant says so
            if type(layer) is FastDropout and "+ 16-bit dropout" not in forms:
                layer.__class__ = keras.layers.Dropout
            if type(layer) is GeluDense and "+ compiled GELU" not in forms:
                layer.__class__ = keras.layers.Dense
            if type(layer) is FlatEinsumDense and "+ 2-D projections" not in forms:
                layer.__class__ = keras.layers.EinsumDense
        learners[variant] = ktbert.get_learner(model, train_data=trn, batch_size=speed.TRAIN_BATCH, seed=0)
    return {"texts": len(texts), "maxlen": maxlen, **timed_rounds(learners, len(texts))}


def timed_rounds(learners: dict, examples: int) -> dict:
    """One warm-up `fit(2e-5, 1)` per learner, then `ROUNDS` whole one-epoch calls each, in
    turn (the order reverses every round): seconds, examples/s of each one's median call, and
    each learner's speed-up over the first as the median of the rounds' own ratios."""
    variants = list(learners)
    for learner in learners.values():
        learner.fit(2e-5, 1, verbose=0)
    seconds, losses = {v: [] for v in variants}, {}
    for number in range(ROUNDS):
        for variant in (variants if number % 2 == 0 else variants[::-1]):
            start = time.perf_counter()
            history = learners[variant].fit(2e-5, 1, verbose=0)
            seconds[variant].append(round(time.perf_counter() - start, 2))
            losses[variant] = round(float(history.history["loss"][-1]), 4)
    ratios = {v: [round(b / s, 3) for b, s in zip(seconds[variants[0]], seconds[v])] for v in variants}
    return {"precision": learners[variants[-1]].model.backbone.dtype_policy.name,
            "seconds": seconds, "median_s": {v: statistics.median(s) for v, s in seconds.items()},
            "examples_per_s": {v: round(examples / statistics.median(s), 1) for v, s in seconds.items()},
            "speedup_each_round": ratios, "speedup": {v: round(statistics.median(r), 3) for v, r in ratios.items()},
            "last_epoch_loss": losses}


def variant_rows(result: dict, variants) -> list:
    """The table rows of `timed_rounds` results: per dataset and variant, examples/s, the
    speed-up (its range) and the last epoch's loss."""
    rows = []
    for name, r in result["datasets"].items():
        for v in variants:
            each = r["speedup_each_round"][v]
            rows.append(f"| {name} ({r['texts']:,} texts, maxlen {r['maxlen']}) | {v} | {r['examples_per_s'][v]} | "
                        f"**{r['speedup'][v]:.2f}x** ({min(each):.2f}-{max(each):.2f}) | {r['last_epoch_loss'][v]} |")
    return rows


def markdown(result: dict) -> str:
    variants = result.get("variants", VARIANTS)
    lines = [
        "# The encoder's training forms, one by one: training speed",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        f"process: one learner per variant on the default encoder, one warm-up epoch each, then {ROUNDS} whole "
        "one-epoch `fit(2e-5, 1)` calls each, in turn. Each row adds one form to the row above it. Rates from each "
        f"one's median call; a speed-up is the median of the rounds' own ratios over `{variants[0]}` (the range "
        "after it).",
        "",
        f"| data | variant | examples/s | speed-up over {variants[0]} | last epoch's loss |",
        "|---|---|---|---|---|",
    ]
    lines += variant_rows(result, variants)
    precision = {r["precision"] for r in result["datasets"].values()}
    lines += ["", f"Precision: {', '.join(sorted(precision))} (the default on this CPU). The dropout variants draw "
              "different masks at the same rate (exact to 1/65536); tests/model/test_dropout.py checks the rate, the "
              "scale, the independence of values sharing a 32-bit draw and the gradient, and tests/model/test_gelu.py "
              "the GELU's values and gradient against float64."]
    return "\n".join(lines) + "\n"


def parse_variants(text: str):
    """The variants two or more short names name, in `VARIANTS`' order, or None."""
    named = [v.strip() for v in text.split(",") if v.strip()]
    variants = tuple(long for short, long in SHORT_NAMES.items() if short in named)
    return variants if len(variants) >= 2 and len(variants) == len(set(named)) else None


def main(argv=None) -> int:
    return speed.per_dataset_comparison_main(argv, __doc__, "training_forms", measure, markdown, flag="--variants",
                                             default=",".join(SHORT_NAMES), parse=parse_variants,
                                             usage=f"two or more of {', '.join(SHORT_NAMES)}")


if __name__ == "__main__":
    sys.exit(main())
