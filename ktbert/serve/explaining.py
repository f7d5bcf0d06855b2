"""`Predictor.explain`: which words drove a prediction, by occlusion (`ktbert.evaluate.explain`)."""

from __future__ import annotations

from ktbert.checks import echo
from ktbert.evaluate.explain import occlusion


def explain(predictor, text: str, class_name: str | None = None, max_words: int = 256):
    """The occlusion explanation of `text` for `class_name` (None: the class `predict` answers;
    for multi-label models, the most probable label)."""
    if predictor.preproc.pairs:
        raise ValueError("`explain` scores the words of one text; this model classifies pairs of texts, "
                         "which it cannot explain yet. Compare `predict` on pairs with words removed instead.")
    if not isinstance(text, str):
        raise TypeError(f"`text` must be one string: explain one text at a time. Received: text={echo(text)}")
    names = predictor.get_classes()
    if class_name is not None:
        if class_name not in names:
            raise ValueError(f"`class_name` {class_name!r} is not a class; classes: {names}")
        index = names.index(class_name)
    elif predictor.preproc.multilabel:
        index = None  # the most probable label
    else:  # the class `predict` answers, threshold included
        index = int(predictor.decisions.decide(predictor.predict_proba([text]))[0])
    return occlusion(predictor.predict_proba, text, names, index, max_words)
