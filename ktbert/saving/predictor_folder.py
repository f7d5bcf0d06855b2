"""A predictor's folder: its manifest, the preprocessor's files and the safetensors weights.

`write_predictor` writes one atomically; `read_predictor` checks one (manifest, checksums,
the model config's allow-list, the weights' layout) and restores its parts. `Predictor.save`
and `Predictor.load` in the serving room are these two calls, and the training side saves
through them too, so neither needs the other's room.
"""

from __future__ import annotations

import dataclasses
import json
import os

from ktbert import __version__
from ktbert.checks import check_seed
from ktbert.data.preprocessor import CONFIG_FILE, TextPreprocessor
from ktbert.model.classifier import TextClassifier
from ktbert.model.training_record import TrainingRecord
from ktbert.saving import folder_writes, manifest, weights_file
from ktbert.saving.saved_config import check_classifier_config, rebuild_classifier, weight_layout


@dataclasses.dataclass
class PredictorParts:
    """What a predictor folder holds, restored.

    Args:
        model: TextClassifier. the model, its weights loaded and its `training_record`'s seeds set.
        preproc: TextPreprocessor. its preprocessor.
        decision: dict. the saved temperature and thresholds (`Decisions.get_config()`).
        prediction: dict. how long texts are read (`Predictor.prediction_config()`); empty in
            saves from before sliding windows.
    """

    model: TextClassifier
    preproc: TextPreprocessor
    decision: dict
    prediction: dict


def write_predictor(folder: str, model: TextClassifier, preproc: TextPreprocessor, decision: dict,
                    prediction: dict, training: dict | None = None) -> None:
    """Writes a predictor folder atomically: manifest, preprocessor, safetensors weights.

    `decision`, `prediction` and `training` (the seeds; None: the model's `training_record`'s)
    go into the manifest as they are.

    An existing ktbert predictor save at `folder` is replaced; a folder holding anything else is
    refused (`ktbert.saving.manifest.write_folder`).
    """

    def write(tmp):
        preproc.save(tmp)
        weights_file.save_weights(model, os.path.join(tmp, manifest.WEIGHTS))

    content = {
        "ktbert_version": __version__,
        "model": json.loads(json.dumps(model.get_config())),
        "decision": decision,
        "prediction": prediction,
        "training": model.training_record.training_config() if training is None else training,
    }
    manifest.write_folder(folder, write, content)


def read_predictor(folder: str, precision: str | None = None) -> PredictorParts:
    """Checks and restores a folder `write_predictor` wrote; every refusal is a
    `SaveFormatError` naming the file.

    Before anything is built, the manifest's model config is checked against an allow-list
    (`ktbert.saving.saved_config`) and its sizes against the weights file's header.
    """
    manifest_path = os.path.join(folder, manifest.MANIFEST)
    weights_path = os.path.join(folder, manifest.WEIGHTS)
    with folder_writes.reading(folder):  # no save swaps the folder while its files are read
        content = manifest.read_manifest(folder, required=(CONFIG_FILE, manifest.WEIGHTS))
        try:  # the tokenizer's files, by the family the (checked) config names, must be listed too
            unlisted = [name for name in TextPreprocessor.saved_files(folder) if name not in content["files"]]
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise manifest.SaveFormatError(
                f"{folder!r} could not be restored: its configuration is damaged ({err})."
            ) from err
        if unlisted:
            raise manifest.SaveFormatError(
                f"{manifest_path!r} does not list {unlisted[0]}, which ktbert reads: every file it reads must be "
                "listed with its checksum. It was not written by ktbert (or was edited since): load only saves you "
                "trust, or save again."
            )
        try:  # before anything is built: the model config may name only a TextClassifier's parts
            check_classifier_config(content.get("model"))
        except ValueError as err:
            raise manifest.SaveFormatError(
                f"{manifest_path!r} is refused: {str(err).rstrip('.')}. It was not "
                "written by ktbert's `Predictor.save` (or was edited since): load only saves you trust, or "
                "save the predictor again."
            ) from err
        # The sizes the config names must be those of the weights it came with: a config asking
        # for a larger model than its file holds is refused before a variable is allocated.
        count, shapes = weight_layout(content["model"])
        weights_file.check_layout(weights_path, weights_file.read_safetensors_header(weights_path),
                                  count, shapes, manifest_path)
        try:
            preproc = TextPreprocessor.load(folder)
        except (KeyError, TypeError, ValueError, OSError) as err:
            raise manifest.SaveFormatError(
                f"{folder!r} could not be restored: its preprocessor is damaged ({err})."
            ) from err
        try:
            model = rebuild_classifier(content["model"], precision)
        except Exception as err:  # whatever Keras or TensorFlow raise on a config they cannot build
            raise manifest.SaveFormatError(
                f"{manifest_path!r} holds a model config that could not be built ({type(err).__name__}: "
                f"{' '.join(str(err).split())[:300]}). It was not written by ktbert's `Predictor.save` (or was "
                "edited since): save the predictor again."
            ) from err
        weights_file.load_weights(model, weights_path)
    decision = content.get("decision", {})
    prediction = content.get("prediction", {})  # older saves have none: texts truncated
    training = content.get("training", {})  # format version 2 saves before 0.1.0 have none
    try:
        for name, value in (("decision", decision), ("prediction", prediction), ("training", training)):
            if not isinstance(value, dict):
                raise TypeError(f"`{name}` must be a JSON object")
        model.training_record = TrainingRecord(seed=check_seed(training.get("seed"), "training.seed"),
                                               shuffle_seed=check_seed(training.get("shuffle_seed"),
                                                                       "training.shuffle_seed"))
    except (TypeError, ValueError) as err:
        raise unusable_settings(folder, err) from err
    return PredictorParts(model, preproc, decision, prediction)


def unusable_settings(folder: str, err: Exception) -> manifest.SaveFormatError:
    """The refusal of a manifest whose decisions or settings this ktbert cannot use."""
    return manifest.SaveFormatError(
        f"{os.path.join(folder, manifest.MANIFEST)!r} holds decisions or settings this ktbert cannot use "
        f"({err}). Save the predictor again."
    )
