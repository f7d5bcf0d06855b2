import re

import pytest

import ktbert


def test_explain_ranks_sentiment_words_above_stop_words(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
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
