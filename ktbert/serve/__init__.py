"""Shipping a model: the predictor, the SavedModel export and `ktbert serve`.

A sibling of `ktbert.train` on top of evaluate, saving, data and model: it never imports the
training room, so a deployed predictor carries no training code. The save format is
`ktbert.saving`'s, the decisions `ktbert.evaluate`'s; both names are served here too.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Decisions": "ktbert.evaluate.decisions:Decisions",
    "Predictor": "ktbert.serve.predictor:Predictor",
    "SaveFormatError": "ktbert.saving.manifest:SaveFormatError",
    "create_app": "ktbert.serve.service:create_app",
    "get_predictor": "ktbert.serve.factories:get_predictor",
    "load_predictor": "ktbert.serve.factories:load_predictor",
})
