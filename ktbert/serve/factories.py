"""ktrain's two ways to make a predictor: `get_predictor` from a trained model (or learner) and
its preprocessor, `load_predictor` from a saved folder."""

from __future__ import annotations

from ktbert.data.preprocessor import TextPreprocessor
from ktbert.defaults import BATCH_SIZE
from ktbert.evaluate.decisions import Decisions
from ktbert.serve.predictor import Predictor


def get_predictor(model, preproc: TextPreprocessor, batch_size: int = BATCH_SIZE, **options) -> Predictor:
    """Pairs a trained model with its preprocessor; ktrain's `get_predictor`.

    Args:
        model: TextClassifier (usually `learner.model`) or the Learner itself: either way the
            learner's decisions (temperature from `learner.calibrate()`, thresholds from
            `learner.tune_thresholds()`) carry over, from the model's `training_record`.
        preproc: TextPreprocessor. the preprocessor the loader returned (or ktrain's
            `text.Transformer`, whose preprocessor is taken).
        batch_size: int. texts per prediction step at `maxlen` tokens; with bucketing,
            shorter texts share larger steps (at most `batch_size * maxlen` padded tokens).
        **options: `long_texts`, `window_stride`, `window_pooling`, `bucketing`,
            `freeze_weights` (once training is over), `quantize`, and
            `temperature`, `thresholds`, `threshold` (which replace the learner's), as
            `Predictor` takes them.

    Examples:
    ```python
    predictor = ktbert.get_predictor(learner.model, preproc, long_texts="windows")
    ```
    """
    # A learner is recognised by what it holds, not by its class: serving never imports training.
    if isinstance(getattr(model, "decisions", None), Decisions) and hasattr(model, "model"):
        model = model.model
    if callable(getattr(preproc, "get_preprocessor", None)):  # ktrain's Transformer, as `preproc=t`
        preproc = preproc.get_preprocessor()
    decisions = getattr(getattr(model, "training_record", None), "decisions", None)
    config = decisions.get_config() if isinstance(decisions, Decisions) else {}
    return Predictor(model, preproc, batch_size=batch_size, **{**config, **options})


def load_predictor(folder: str, batch_size: int = BATCH_SIZE, bucketing: bool = True,
                   precision: str | None = None, freeze_weights: bool = True,
                   quantize: str | None = None) -> Predictor:
    """Restores a saved predictor; ktrain's `load_predictor` (see `Predictor.load`)."""
    return Predictor.load(folder, batch_size=batch_size, bucketing=bucketing, precision=precision,
                          freeze_weights=freeze_weights, quantize=quantize)
