"""ktbert: fine-tune BERT text classifiers on Keras 3 in a few lines, the ktrain way.

Every public name is loaded on first use (PEP 562), so `import ktbert` loads neither
TensorFlow nor pandas, scikit-learn or matplotlib; each room loads what it needs.

Examples:
```python
import ktbert
trn, val, preproc = ktbert.texts_from_df(df, "Reviews", label_columns="Sentiment", maxlen=128)
model = ktbert.text_classifier("bert", trn, preproc)
learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
learner.fit_onecycle(5e-5, 1)
ktbert.get_predictor(learner.model, preproc).save("sentiment")
```
"""

from ktbert._kernels import prefer_fast_kernels
from ktbert._lazy import attach

prefer_fast_kernels()  # before any room loads TensorFlow; see ktbert/_kernels.py

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = attach(__name__, {
    "Decisions": "ktbert.evaluate.decisions:Decisions",
    "Explanation": "ktbert.evaluate.explain:Explanation",
    "Interpretation": "ktbert.evaluate.interpretation:Interpretation",
    "Learner": "ktbert.train.learner:Learner",
    "Predictor": "ktbert.serve.predictor:Predictor",
    "SaveFormatError": "ktbert.saving.manifest:SaveFormatError",
    "TextClassifier": "ktbert.model.classifier:TextClassifier",
    "TextCleaner": "ktbert.data.cleaning:TextCleaner",
    "TextData": "ktbert.data.texts:TextData",
    "TextPreprocessor": "ktbert.data.preprocessor:TextPreprocessor",
    "TokenizedTexts": "ktbert.data.texts:TokenizedTexts",
    "TrainingDiverged": "ktbert.train.faults:TrainingDiverged",
    "TrainingRun": "ktbert.recipe.training_run:TrainingRun",
    "TrainingSettings": "ktbert.recipe.settings:TrainingSettings",
    "Transformer": "ktbert.recipe.transformer:Transformer",
    "compare": "ktbert.evaluate.baselines:compare",
    "get_learner": "ktbert.train.learner:get_learner",
    "get_predictor": "ktbert.serve.factories:get_predictor",
    "load_predictor": "ktbert.serve.factories:load_predictor",
    "read_data": "ktbert.data.reading:read_data",
    "text": "ktbert.text",
    "text_classifier": "ktbert.model.classifier:text_classifier",
    "texts_from_array": "ktbert.data.loaders:texts_from_array",
    "texts_from_csv": "ktbert.data.loaders:texts_from_csv",
    "texts_from_df": "ktbert.data.loaders:texts_from_df",
    "texts_from_folder": "ktbert.data.loaders:texts_from_folder",
    "train_classifier": "ktbert.recipe.training_run:train_classifier",
    "write_report": "ktbert.evaluate.report:write_report",
})
