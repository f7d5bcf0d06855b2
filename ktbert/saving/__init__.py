"""Persistence: the save format (manifest and checks), the weights file, atomic locked folder
writes (fsynced, `durable`), the allow-list of saved configs, and the folders of predictors,
models and checkpoints.

Below both `ktbert.train` and `ktbert.serve`, so training saves without serving code and a
deployed predictor loads without training code. Imports `ktbert.data` and `ktbert.model` only.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "PredictorParts": "ktbert.saving.predictor_folder:PredictorParts",
    "SaveFormatError": "ktbert.saving.manifest:SaveFormatError",
    "read_manifest": "ktbert.saving.manifest:read_manifest",
    "read_predictor": "ktbert.saving.predictor_folder:read_predictor",
    "write_predictor": "ktbert.saving.predictor_folder:write_predictor",
})
