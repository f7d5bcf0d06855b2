"""The ground floor: encoders (where weights and vocabularies come from) and the classifier.

Imports nothing from the other rooms.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "DEFAULT_ENCODER": "ktbert.model.encoders:DEFAULT_ENCODER",
    "MaskedMeanPooling": "ktbert.model.classifier:MaskedMeanPooling",
    "TextClassifier": "ktbert.model.classifier:TextClassifier",
    "TrainingRecord": "ktbert.model.training_record:TrainingRecord",
    "compile_classifier": "ktbert.model.compiling:compile_classifier",
    "load_backbone": "ktbert.model.encoders:load_backbone",
    "load_encoder_settings": "ktbert.model.encoders:load_encoder_settings",
    "sentence_embedder": "ktbert.model.classifier:sentence_embedder",
    "text_classifier": "ktbert.model.classifier:text_classifier",
})
