"""Prediction with the encoder's feed-forward GELU fused (`ktbert.model.feedforward.GeluDense`)
against Keras' own `Dense`, side by side in one process.

For each dataset (speed.py's prediction texts: the 872 SST-2 dev sentences, 1,000 AG News test
descriptions, 200 IMDB test reviews at maxlen 256), one predictor on the default encoder (an
untrained head: speed does not depend on training) predicts the texts three times with the
layers fused and three times with them switched back to `keras.layers.Dense`, alternating, each
after a warm-up call; the best of three is compared. Also recorded: the largest probability
difference between the two. Writes docs/benchmarks/fused_gelu.md and .json. Run it alone.

    python benchmarks/fused_gelu.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import sys
import time

import speed

ROUNDS = 3


def measure(name: str, data: str) -> dict:
    import keras
    import numpy as np

    import ktbert
    from ktbert.data import prediction
    from ktbert.model.feedforward import GeluDense
    from ktbert.model.keras_internals import nested_layers

    texts, preproc, model = speed.untrained_classifier(name, data)
    maxlen = preproc.maxlen
    predictor = ktbert.get_predictor(model, preproc, batch_size=speed.PREDICT_BATCH)
    layers = [layer for layer in nested_layers(model) if type(layer) is GeluDense]
    seconds, proba = {"fused": [], "keras": []}, {}
    for _ in range(ROUNDS):
        for mode in ("keras", "fused"):
            for layer in layers:
                layer.__class__ = GeluDense if mode == "fused" else keras.layers.Dense
            prediction._PREDICT_STEPS.clear()  # traced again with the layers as they now are
            predictor.predict(texts[:48])
            start = time.perf_counter()
            proba[mode] = predictor.predict(texts, return_proba=True)
            seconds[mode].append(time.perf_counter() - start)
    return {"texts": len(texts), "maxlen": maxlen, "layers": len(layers),
            "seconds": {k: [round(s, 3) for s in v] for k, v in seconds.items()},
            "fused_texts_per_s": round(len(texts) / min(seconds["fused"]), 1),
            "keras_texts_per_s": round(len(texts) / min(seconds["keras"]), 1),
            "speedup": round(min(seconds["keras"]) / min(seconds["fused"]), 3),
            "max_proba_difference": float(np.abs(proba["fused"] - proba["keras"]).max()),
            "precision": model.backbone.dtype_policy.name}


def markdown(result: dict) -> str:
    lines = [
        "# Prediction with the feed-forward GELU fused, against Keras' Dense",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        f"process, alternating, best of {ROUNDS} each (tokenization included, after a warm-up call).",
        "",
        "| data | texts | Keras' Dense, texts/s | fused, texts/s | speed-up | largest probability difference | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["datasets"].items():
        lines.append(f"| {name} (maxlen {r['maxlen']}) | {r['texts']:,} | {r['keras_texts_per_s']} | "
                     f"{r['fused_texts_per_s']} | {r['speedup']:.2f}x | {r['max_proba_difference']:.4f} | {r['precision']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "fused_gelu", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
