"""The shapes of the service's requests and answers, as `/docs` and `/openapi.json` show them.

The bodies are read and checked by hand (`ktbert/serve/requests.py`), so that the size limit
applies before JSON parsing and each mistake gets its own message; these models document them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class PredictRequest(BaseModel):
    """The body of `POST /predict` (documentation: the body is read and checked by hand, so the
    size limit applies before JSON parsing and each mistake gets its own message)."""

    texts: list[str] = Field(min_length=1, description="the texts to classify, at most `max_texts`",
                             examples=[["what a film!", "dull"]])
    return_proba: bool = Field(True, description="also return each text's class probabilities")


class PredictPairsRequest(BaseModel):
    """The body of `POST /predict` for a model of text pairs."""

    pairs: list[list[str]] = Field(min_length=1, description="`[text_a, text_b]` pairs to classify, at most "
                                   "`max_texts`", examples=[[["is it open on sunday?", "we open every day"]]])
    return_proba: bool = Field(True, description="also return each pair's class probabilities")


class PredictResponse(BaseModel):
    """The answer of `POST /predict`: one label (multi-label models: a list of labels) and one row
    of probabilities per text, in the order the texts came."""

    labels: list[str | list[str]]
    probabilities: list[list[float]] | None = Field(None, description="absent when return_proba is false")
    classes: list[str] = Field(description="the class names, in the order of the probability columns")


class ExplainRequest(BaseModel):
    """The body of `POST /explain`."""

    text: str = Field(description="the text to explain", examples=["what a film!"])
    class_name: str | None = Field(None, description="the class to explain (default: the class /predict answers; "
                                   "multi-label models: the most probable one)")


class ExplainResponse(BaseModel):
    """The answer of `POST /explain`: each scored word's drop in the probability of `class_name`
    when the text is predicted without it (negative: the word argued against the class)."""

    label: str | list[str] = Field(description="what /predict answers for the text")
    class_name: str
    probability: float = Field(description="the probability of `class_name` for the whole text")
    words: list[str] = Field(description="the text's first words, split on whitespace, in order")
    scores: list[float]
    words_in_text: int = Field(description="all the text's words: those beyond `max_texts - 1` are not scored")


class ErrorResponse(BaseModel):
    """A refused request: what was wrong and how to fix it."""

    detail: str
