import re

import numpy as np
import pytest

import ktbert
from ktbert.data.cleaning import TextCleaner
from conftest import TINY_VOCAB, sentiment_frame


def test_cleaner_options():
    text = "Loved it #great @bob!<br />Really #good. mail@x.com"
    assert TextCleaner()(text) == text
    assert TextCleaner(hashtags=True)(text) == "Loved it great @bob!<br />Really good. mail@x.com"
    assert TextCleaner(mentions="@user")(text) == "Loved it #great @user!<br />Really #good. mail@x.com"
    assert TextCleaner(html_breaks=True)(text) == "Loved it #great @bob! Really #good. mail@x.com"
    with pytest.raises(ValueError, match=re.escape("`clean` has unknown option(s) ['emoji']; known: hashtags, mentions, html_breaks.")):
        TextCleaner.from_value({"emoji": True})


def test_cleaning_is_saved_with_the_preprocessor(tmp_path):
    pre = ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16, class_names=["neg", "pos"],
                                  clean={"hashtags": True, "html_breaks": True})
    plain = ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16)
    assert pre.preprocess(["#good<br />film"])[0].tolist() == plain.preprocess(["good film"])[0].tolist()
    pre.save(tmp_path)
    loaded = ktbert.TextPreprocessor.load(tmp_path)
    assert loaded.clean == TextCleaner(hashtags=True, html_breaks=True)
    assert loaded.preprocess(["#good<br />film"])[0].tolist() == plain.preprocess(["good film"])[0].tolist()


@pytest.fixture(scope="module")
def sentiment(tiny_encoder):
    df = sentiment_frame(96, seed=7)
    trn, val, preproc = ktbert.texts_from_df(df[:64], "text", "label", val_df=df[64:], maxlen=16,
                                             encoder=tiny_encoder, verbose=0, clean={"hashtags": True})
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, trn, val, batch_size=8, seed=0)
    learner.fit_onecycle(5e-3, 6, verbose=0)
    return learner, trn, val, preproc


def test_explain_ranks_sentiment_words_above_stop_words(sentiment):
    learner, _, _, preproc = sentiment
    predictor = ktbert.get_predictor(learner, preproc)
    explanation = predictor.explain("the film was awful")
    assert explanation.class_name == "neg"
    scores = dict(explanation.pairs)
    assert scores["awful"] > max(scores["the"], scores["was"])
    assert explanation.top(1)[0][0] == "awful"
    html = explanation.html()
    assert "awful" in html and "rgba(0, 160, 0" in html and explanation._repr_html_() == html
    pos = predictor.explain("the film was wonderful", class_name="pos")
    assert dict(pos.pairs)["wonderful"] > dict(pos.pairs)["the"]
    with pytest.raises(ValueError, match=re.escape("`class_name` 'meh' is not a class; classes: ['neg', 'pos']")):
        predictor.explain("fine", class_name="meh")


def test_view_top_losses_shows_texts_in_loss_order(sentiment, capsys):
    learner, _, val, preproc = sentiment
    rows = learner.view_top_losses(n=3, preproc=preproc)
    losses = [r["loss"] for r in rows]
    assert losses == sorted(losses, reverse=True)
    assert [r["index"] for r in rows] == [t[0] for t in learner.top_losses(3)]
    assert rows[0]["text"] == val.x.texts[rows[0]["index"]]
    out = capsys.readouterr().out
    assert f"id {rows[0]['index']} | loss {rows[0]['loss']:.4f} | true: {rows[0]['true']}" in out


def test_binary_threshold_and_temperature_survive_save_and_reload(sentiment, tmp_path):
    learner, _, val, preproc = sentiment
    learner.calibrate(verbose=0)
    predictor = ktbert.get_predictor(learner, preproc)
    assert predictor.temperature == learner.temperature != 1.0
    predictor.set_threshold(0.8)
    predictor.save(str(tmp_path / "p"))
    loaded = ktbert.load_predictor(str(tmp_path / "p"))
    assert loaded.decision_config() == {"temperature": learner.temperature, "thresholds": None, "threshold": 0.8}
    texts = val.x.texts
    proba = predictor.predict(texts, return_proba=True)
    assert np.max(np.abs(loaded.predict(texts, return_proba=True) - proba)) <= 1e-6
    assert loaded.predict(texts) == ["pos" if p[1] >= 0.8 else "neg" for p in proba]


def test_multilabel_thresholds_survive_save_and_reload(tiny_encoder, tmp_path):
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative")
    trn, val, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df, maxlen=16,
                                             encoder=tiny_encoder, verbose=0)
    learner = ktbert.get_learner(ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0), trn, val, batch_size=8)
    learner.fit_onecycle(5e-3, 2, verbose=0)
    thresholds = learner.tune_thresholds()
    assert len(thresholds) == 3 and all(0 < t < 1 for t in thresholds)
    predictor = ktbert.get_predictor(learner, preproc)
    predictor.set_thresholds([0.3, 0.6, 0.45])
    predictor.save(str(tmp_path / "m"))
    loaded = ktbert.Predictor.load(str(tmp_path / "m"))
    assert loaded.thresholds == [0.3, 0.6, 0.45]
    proba = loaded.predict(["good film"], return_proba=True)[0]
    names = loaded.get_classes()
    assert loaded.predict("good film") == [n for n, p, t in zip(names, proba, [0.3, 0.6, 0.45]) if p >= t]
    with pytest.raises(ValueError, match=re.escape("`thresholds` needs one value per label of a multi-label model (3 classes, multilabel=True). Received 2 values.")):
        loaded.set_thresholds([0.5, 0.5])


def test_compare_reports_baselines_beside_the_model(sentiment, tiny_encoder):
    learner, trn, val, preproc = sentiment
    table = ktbert.compare(trn, val, preproc, learner=learner)
    assert list(table.index) == ["TF-IDF + logistic regression",
                                 "frozen encoder embeddings + logistic regression",
                                 "fine-tuned BERT (ktbert)"]
    assert list(table.columns) == ["accuracy", "micro_f1", "macro_f1", "seconds"]
    assert table.loc["TF-IDF + logistic regression", "accuracy"] == 1.0  # separable by words
    assert table.loc["fine-tuned BERT (ktbert)", "accuracy"] == pytest.approx(learner.evaluate()["accuracy"])
