"""How good is the model: metrics, interpretation, calibration, explanations, baselines, plots.

Imports from `ktbert.data` and `ktbert.model` below it, never from `serve` or `train`.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Explanation": "ktbert.evaluate.explain:Explanation",
    "Interpretation": "ktbert.evaluate.interpretation:Interpretation",
    "compare": "ktbert.evaluate.baselines:compare",
    "expected_calibration_error": "ktbert.evaluate.metrics:expected_calibration_error",
    "occlusion": "ktbert.evaluate.explain:occlusion",
})
