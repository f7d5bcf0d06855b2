"""Texts and labels in, token ids out: loaders, labels, cleaning, the one text pipeline, the
preprocessor and batching.

Imports only from `ktbert.model` (the encoder's vocabulary) below it.
"""

from ktbert._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "EncodedLabels": "ktbert.data.labels:EncodedLabels",
    "TextCleaner": "ktbert.data.cleaning:TextCleaner",
    "TextData": "ktbert.data.texts:TextData",
    "TextPipeline": "ktbert.data.pipeline:TextPipeline",
    "TextPreprocessor": "ktbert.data.preprocessor:TextPreprocessor",
    "TokenizedTexts": "ktbert.data.texts:TokenizedTexts",
    "make_dataset": "ktbert.data.batching:make_dataset",
    "read_data": "ktbert.data.reading:read_data",
    "read_table": "ktbert.data.tables:read_table",
    "texts_from_array": "ktbert.data.loaders:texts_from_array",
    "texts_from_csv": "ktbert.data.loaders:texts_from_csv",
    "texts_from_df": "ktbert.data.loaders:texts_from_df",
    "texts_from_folder": "ktbert.data.loaders:texts_from_folder",
})
