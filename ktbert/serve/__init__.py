"""Shipping a model: the predictor, its decisions (temperature, thresholds) and the save format.

Never imports `ktbert.train`: a deployed predictor carries no training code.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Decisions": "ktbert.serve.decisions:Decisions",
    "Predictor": "ktbert.serve.predictor:Predictor",
    "SaveFormatError": "ktbert.serve.saving:SaveFormatError",
    "create_app": "ktbert.serve.service:create_app",
    "get_predictor": "ktbert.serve.predictor:get_predictor",
    "load_predictor": "ktbert.serve.predictor:load_predictor",
})
