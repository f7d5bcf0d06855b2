"""Default values that several rooms share, named once: the same default everywhere it applies."""

MAXLEN = 128  # tokens per text, [CLS] and [SEP] included
BATCH_SIZE = 32  # texts per step wherever nothing else is said: evaluation, prediction, get_learner
TRAIN_BATCH_SIZE = 16  # texts per training step in the recipe and the command line (BERT's recipe)
VAL_PCT = 0.1  # share of the training rows held out when no validation data is given
ENCODER = "default"  # all-MiniLM-L6-v2 from its PyPI package (ktbert.model.encoders)
TRUNCATION = "head"  # how a text longer than maxlen is cut (ktbert.data.pipeline.TRUNCATIONS)
DROPOUT = 0.1  # before the classifier's head
LR = 5e-5  # the training recipe's peak rate
