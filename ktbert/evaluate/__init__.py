"""How good is the model, and how it decides: metrics, decisions (temperature, thresholds),
interpretation, calibration, explanations, baselines, plots, and the HTML report.

Imports from `ktbert.saving`, `ktbert.data` and `ktbert.model` below it, never from `serve`,
`train` or `recipe`.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "Decisions": "ktbert.evaluate.decisions:Decisions",
    "DecisionsMixin": "ktbert.evaluate.decisions:DecisionsMixin",
    "Explanation": "ktbert.evaluate.explain:Explanation",
    "Interpretation": "ktbert.evaluate.interpretation:Interpretation",
    "compare": "ktbert.evaluate.baselines:compare",
    "expected_calibration_error": "ktbert.evaluate.metrics:expected_calibration_error",
    "occlusion": "ktbert.evaluate.explain:occlusion",
    "write_report": "ktbert.evaluate.report:write_report",
})
