"""What the compiled exact GELU (`ktbert.model.gelu.gelu_exact`) saves in training, side by side
in one process, on an encoder of a family that uses it.

No pretrained weights of DistilBERT, RoBERTa, XLM-R or DeBERTaV3 install here, and speed does not
depend on the weights' values: the encoder is a keras-hub `DistilBertBackbone` of the default
encoder's sizes (6 layers, hidden 384, 12 heads, feed-forward 1536), randomly initialized (seed
0), with the default encoder's WordPiece vocabulary, saved as a keras-hub preset folder and
loaded by `texts_from_df(..., encoder=folder)` as a user's would be. For each dataset (speed.py's
training texts, the first `training_forms.TEXTS` of its fixed-seed sample, at its maxlen), one
learner per variant with the same seed:
- `Keras' exact GELU`: the feed-forward layers as plain `Dense` (Keras' `gelu`);
- `compiled exact GELU` (the default): `GeluDense`'s compiled pass each way.
Timed as `training_forms.py` times its variants (a warm-up epoch each, then 3 rounds of whole
one-epoch `fit` calls in turn). Writes docs/benchmarks/exact_gelu.md and .json. Run it alone.

    python benchmarks/exact_gelu.py [--datasets sst2,agnews,imdb] [--data ../shared/data]
"""

import os
import sys
import tempfile

import speed
from training_forms import ROUNDS, TEXTS, timed_rounds, variant_rows

VARIANTS = ("Keras' exact GELU", "compiled exact GELU")
SIZES = dict(num_layers=6, num_heads=12, hidden_dim=384, intermediate_dim=1536, max_sequence_length=512)


def distil_bert_folder(folder: str) -> str:
    """A randomly initialized DistilBERT of the default encoder's sizes and vocabulary, as a
    keras-hub preset folder."""
    import keras
    import keras_hub

    vocabulary = os.path.join(speed.encoder_folder(), "vocab.txt")
    tokenizer = keras_hub.models.DistilBertTokenizer(vocabulary=vocabulary, lowercase=True)
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.DistilBertBackbone(vocabulary_size=tokenizer.vocabulary_size(), **SIZES)
    backbone.save_to_preset(folder)
    tokenizer.save_to_preset(folder)
    return folder


def measure(name: str, data: str) -> dict:
    import keras
    import pandas as pd

    import ktbert
    from ktbert.model.feedforward import GeluDense
    from ktbert.model.keras_internals import nested_layers

    _, _, maxlen = speed.SIZES[name]
    texts, labels, val_texts, val_labels = speed.load_dataset(name, data, TEXTS[name], 64)
    with tempfile.TemporaryDirectory() as folder:
        encoder = distil_bert_folder(os.path.join(folder, "distil_bert"))
        trn, _, preproc = ktbert.texts_from_df(pd.DataFrame({"text": texts, "label": labels}), "text",
                                               label_columns="label", maxlen=maxlen, verbose=0, encoder=encoder,
                                               val_df=pd.DataFrame({"text": val_texts, "label": val_labels}))
        learners = {}
        for variant in VARIANTS:
            model = ktbert.text_classifier("bert", trn, preproc, verbose=0, seed=0)
            gelu_layers = [layer for layer in nested_layers(model.backbone) if type(layer) is GeluDense]
            if variant == VARIANTS[0]:
                for layer in gelu_layers:
                    layer.__class__ = keras.layers.Dense
            learners[variant] = ktbert.get_learner(model, train_data=trn, batch_size=speed.TRAIN_BATCH, seed=0)
        return {"texts": len(texts), "maxlen": maxlen, "family": preproc.family,
                "feed_forward_layers": len(gelu_layers), **timed_rounds(learners, len(texts))}


def markdown(result: dict) -> str:
    lines = [
        "# The compiled exact GELU: training speed on an exact-GELU encoder",
        "",
        f"Produced by `{result['command']}` on {result['cpu']['model']} ({result['cpu']['cores']} cores), in one "
        "process: a randomly initialized keras-hub DistilBERT of the default encoder's sizes (6 layers, hidden 384, "
        "12 heads, feed-forward 1536) and vocabulary, one learner per variant, one warm-up epoch each, then "
        f"{ROUNDS} whole one-epoch `fit(2e-5, 1)` calls each, in turn. Rates from each one's median call; the "
        "speed-up is the median of the rounds' own ratios (the range after it). DistilBERT, RoBERTa, XLM-RoBERTa "
        "and DeBERTaV3 use this GELU; BERT, ALBERT and ELECTRA use the approximate one "
        "(training_forms.md).",
        "",
        "| data | variant | examples/s | speed-up | last epoch's loss |",
        "|---|---|---|---|---|",
    ]
    lines += variant_rows(result, VARIANTS)
    precision = {r["precision"] for r in result["datasets"].values()}
    lines += ["", f"Precision: {', '.join(sorted(precision))} (the default on this CPU). Both variants draw the same "
              "dropout masks; the compiled GELU rounds once instead of at each op, so the losses may differ in the "
              "last digits."
              " tests/model/test_gelu.py checks its values and gradient against float64 and Keras'."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    return speed.per_dataset_main(argv, __doc__, "exact_gelu", measure, markdown)


if __name__ == "__main__":
    sys.exit(main())
