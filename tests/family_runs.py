"""Trains, saves and exports tiny encoders of several families in one process, for
`tests/model/test_families.py`, which runs two of these processes side by side (tracing takes
one core) and checks their saves in its own process: a fresh one for every save.

Usage: python family_runs.py RUNS_JSON OUT_JSON, where RUNS_JSON holds `[[name, family, source,
folder], ...]` (source "preset" or "hf") and OUT_JSON receives, per name, the one step's count,
whether it moved the weights, the predictor's probabilities of `TEXTS`, and the folders.
"""

import json
import os
import sys

TEXTS = ["the film was good", "bad plot and awful acting", "Café 😀 great", "", "good " * 60]


def train_save_export(name: str, family: str, source: str, folder: str) -> dict:
    import numpy as np

    import ktbert
    from encoder_families import make_family_encoder
    from helpers import sentiment_frame
    from hf_folders import write_hf_folder

    write = make_family_encoder if source == "preset" else write_hf_folder
    encoder = write(family, os.path.join(folder, "encoder"))
    df = sentiment_frame(8)
    trn, _, preproc = ktbert.texts_from_df(df, "text", "label", val_df=df.head(2), maxlen=16,
                                           encoder=encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, batch_size=8)  # one step, no validation pass
    before = [w.copy() for w in model.get_weights()]
    learner.fit(1e-3, 1, verbose=0)
    predictor = ktbert.get_predictor(learner.model, preproc)
    save, export = os.path.join(folder, "save"), os.path.join(folder, "export")
    predictor.save(save)
    predictor.export(export)
    return dict(family=family, save=save, export=export, trained_family=preproc.family,
                steps=int(learner.model.optimizer.iterations.numpy()),
                moved=any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())),
                probabilities=predictor.predict(TEXTS, return_proba=True).tolist())


def main(runs_file: str, out_file: str) -> None:
    with open(runs_file, encoding="utf-8") as f:
        runs = json.load(f)
    out = {name: train_save_export(name, family, source, folder) for name, family, source, folder in runs}
    with open(out_file, "w", encoding="utf-8") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
