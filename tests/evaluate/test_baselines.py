import pytest

import ktbert


def test_compare_reports_baselines_beside_the_model(trained_sentiment):
    learner, trn, val, preproc = trained_sentiment
    table = ktbert.compare(trn, val, preproc, learner=learner)
    assert list(table.index) == ["TF-IDF + logistic regression",
                                 "frozen encoder embeddings + logistic regression",
                                 "fine-tuned BERT (ktbert)"]
    assert list(table.columns) == ["accuracy", "micro_f1", "macro_f1", "seconds"]
    assert table.loc["TF-IDF + logistic regression", "accuracy"] == 1.0  # separable by words
    assert table.loc["fine-tuned BERT (ktbert)", "accuracy"] == pytest.approx(learner.evaluate()["accuracy"])
