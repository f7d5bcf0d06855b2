"""Which words drove a prediction, by occlusion.

Each word is left out in turn and the text predicted again; a word's score is how much the
probability of the explained class drops without it (negative: the word argued against it).
Occlusion needs no gradients, works for any model, and reads in words rather than WordPieces;
it costs one prediction per word, in batches.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

MAX_WORDS = 256


@dataclass
class Explanation:
    """Word scores for one text and one class.

    Args:
        words: list of str. the text's words (split on whitespace).
        scores: list of float. probability drop of `class_name` when each word is left out.
        class_name: str. the class explained.
        probability: float. its probability for the whole text.
    """

    words: list
    scores: list
    class_name: str
    probability: float

    @property
    def pairs(self) -> list:
        """`(word, score)` in text order."""
        return list(zip(self.words, self.scores))

    def top(self, k: int = 10) -> list:
        """The `k` `(word, score)` pairs with the highest scores."""
        return sorted(self.pairs, key=lambda p: -p[1])[:k]

    def html(self) -> str:
        """The text with each word highlighted: green supports the class, red argues against."""
        scale = max((abs(s) for s in self.scores), default=0.0) or 1.0
        spans = []
        for word, score in self.pairs:
            alpha = min(abs(score) / scale, 1.0) * 0.8
            color = f"rgba(0, 160, 0, {alpha:.2f})" if score >= 0 else f"rgba(220, 0, 0, {alpha:.2f})"
            spans.append(f'<span style="background-color: {color}; padding: 1px 2px" '
                         f'title="{score:+.4f}">{html.escape(word)}</span>')
        head = (f"<p><b>{html.escape(self.class_name)}</b> (probability {self.probability:.3f}); "
                "green words support it, red words argue against it.</p>")
        return head + "<p>" + " ".join(spans) + "</p>"

    def _repr_html_(self) -> str:
        return self.html()


def occlusion(predict_proba, text: str, class_names, class_index=None, max_words: int = MAX_WORDS) -> Explanation:
    """Scores the first `max_words` words of `text` by leaving each out.

    Args:
        predict_proba: callable. list of texts -> probabilities `(n, classes)`.
        text: str. the text to explain.
        class_names: list of str. the classes.
        class_index: int or None. the class to explain; None explains the predicted class.
        max_words: int. words scored at most (later words are kept, unscored).
    """
    scored, texts = occlusion_texts(text, max_words)
    return occlusion_explanation(np.asarray(predict_proba(texts)), scored, class_names, class_index)


def occlusion_texts(text: str, max_words: int = MAX_WORDS) -> tuple:
    """`(scored words, texts to predict)`: `text` itself, then `text` without each of its first
    `max_words` words in turn (the service predicts them through its own queue)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"`text` must be a non-empty string. Received: {text!r}")
    words = text.split()
    scored = words[:max_words]
    return scored, [text] + [" ".join(words[:i] + words[i + 1:]) or " " for i in range(len(scored))]


def occlusion_explanation(proba, scored: list, class_names, class_index=None) -> Explanation:
    """The explanation from the probabilities of `occlusion_texts`' texts, in their order."""
    target = int(np.argmax(proba[0])) if class_index is None else int(class_index)
    base = float(proba[0, target])
    return Explanation(list(scored), [float(base - p) for p in proba[1:, target]], class_names[target], base)
