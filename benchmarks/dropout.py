"""What 16-bit dropout masks (`ktbert.model.dropout.FastDropout`) save in training, side by side
in one process.

For each dataset (speed.py's training texts, the first `TEXTS` of its fixed-seed sample, at its
maxlen), two learners on the default encoder with the same seed: one with the encoder's dropout
switched back to Keras' `Dropout` (`keras`), one as ktbert builds it (`16-bit`). Each runs one
warm-up `fit(2e-5, 1)` (traces), then both run `ROUNDS` whole one-epoch `fit` calls,
alternating (which goes first alternates too); the table keeps each one's median call and the
speed-up is the median of the rounds' own ratios. The training loss of the last epoch is shown
for both: the masks differ, the rate does not (0.1 becomes 6554/65536). Writes
docs/benchmarks/dropout.md and .json. Run it alone.

    python benchmarks/dropout.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import statistics
import sys
import time

import speed

ROUNDS = 3
TEXTS = {"sst2": 2000, "agnews": 1000, "imdb": 300}
VARIANTS = ("keras", "16-bit")


def measure(name: str, data: str) -> dict:
    import keras
    import pandas as pd

    import ktbert
    from ktbert.model.dropout import FastDropout
    from ktbert.model.keras_internals import nested_layers

    _, _, maxlen = speed.SIZES[name]
    texts, labels, val_texts, val_labels = speed.load_dataset(name, data, TEXTS[name], 64)
    trn, _, preproc = ktbert.texts_from_df(pd.DataFrame({"text": texts, "label": labels}), "text",
                                           label_columns="label", maxlen=maxlen, verbose=0,
                                           val_df=pd.DataFrame({"text": val_texts, "label": val_labels}))
    learners = {}
    for variant in VARIANTS:
        model = ktbert.text_classifier("bert", trn, preproc, verbose=0, seed=0)
        if variant == "keras":
            for layer in nested_layers(model.backbone):
                if type(layer) is FastDropout:
                    layer.__class__ = keras.layers.Dropout
        learners[variant] = ktbert.get_learner(model, train_data=trn, batch_size=speed.TRAIN_BATCH, seed=0)
        learners[variant].fit(2e-5, 1, verbose=0)
    seconds, losses = {v: [] for v in VARIANTS}, {}
    for number in range(ROUNDS):
        for variant in (VARIANTS if number % 2 == 0 else VARIANTS[::-1]):
            start = time.perf_counter()
            history = learners[variant].fit(2e-5, 1, verbose=0)
            seconds[variant].append(round(time.perf_counter() - start, 2))
            losses[variant] = round(float(history.history["loss"][-1]), 4)
    ratios = [k / f for k, f in zip(seconds["keras"], seconds["16-bit"])]
    return {"texts": len(texts), "maxlen": maxlen, "precision": learners["16-bit"].model.backbone.dtype_policy.name,
            "seconds": seconds, "median_s": {v: statistics.median(s) for v, s in seconds.items()},
            "examples_per_s": {v: round(len(texts) / statistics.median(s), 1) for v, s in seconds.items()},
            "speedup_each_round": [round(r, 3) for r in ratios], "speedup": round(statistics.median(ratios), 3),
            "last_epoch_loss": losses}


def markdown(result: dict) -> str:
    lines = [
        "# Dropout from 16 random bits per value against Keras' dropout: training speed",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        f"process: two learners on the default encoder, one warm-up epoch each, then {ROUNDS} whole one-epoch "
        "`fit(2e-5, 1)` calls each, alternating. Rates from each one's median call; the speed-up is the median of "
        "the rounds' own ratios (the range after it).",
        "",
        "| data | keras examples/s | 16-bit examples/s | speed-up | last epoch's loss (keras / 16-bit) |",
        "|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        each = r["speedup_each_round"]
        lines.append(f"| {name} ({r['texts']:,} texts, maxlen {r['maxlen']}) | {r['examples_per_s']['keras']} | "
                     f"{r['examples_per_s']['16-bit']} | **{r['speedup']:.2f}x** ({min(each):.2f}-{max(each):.2f}) | "
                     f"{r['last_epoch_loss']['keras']} / {r['last_epoch_loss']['16-bit']} |")
    precision = {r["precision"] for r in result["datasets"].values()}
    lines += ["", f"Precision: {', '.join(sorted(precision))} (the default on this CPU). The two draw different "
              "masks at the same rate (exact to 1/65536); tests/model/test_dropout.py checks the rate, the scale, "
              "the independence of values sharing a 32-bit draw and the gradient."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "dropout", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
