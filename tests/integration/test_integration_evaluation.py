"""Real encoder, real data: imbalanced and multi-label tasks against their acceptance bounds."""

import pandas as pd
import pytest

import ktbert
from ktbert.evaluate.baselines import tfidf_logreg
from ktbert.evaluate.metrics import scores
from helpers import default_encoder_or_skip, shared_path

pytestmark = pytest.mark.integration

# 1,000 training documents at maxlen 64 for 2 epochs: micro-F1 0.881 against TF-IDF's 0.826, in
# 94 s alone on 2 cores (maxlen 96: 0.887 in 136 s). Before: 3 epochs at 96 gave 0.921 in five
# minutes, and 1,500 documents at maxlen 128, 3 epochs, 0.938 against 0.853 in seven.
REUTERS_DOCS, REUTERS_MAXLEN, REUTERS_LR, REUTERS_EPOCHS = 1000, 64, 1e-4, 2
R10 = ["earn", "acq", "money-fx", "grain", "crude", "trade", "interest", "wheat", "ship", "corn"]


def test_sms_spam_f1_at_least_090():
    default_encoder_or_skip()
    sms = pd.read_csv(shared_path("sms", "SMSSpamCollection"), sep="\t")
    train = sms.groupby("Label").sample(frac=0.25, random_state=0)
    test = sms.drop(train.index).groupby("Label").sample(frac=0.3, random_state=0)
    # chosen on 20% held out from the training portion (spam F1 0.962; 1 epoch: 0.945;
    # 2 epochs unweighted: 0.923), not on the test messages; 25% of the messages rather than 36%
    # to keep the suite's time (spam F1 0.939 on 1,254 test messages, against 0.960 on 1,069)
    settings = ktbert.TrainingSettings("SMS", "Label", maxlen=64, batch_size=16, epochs=2, lr=1e-4,
                                       class_weight="balanced", seed=0, verbose=2)
    run = ktbert.train_classifier(settings, train, val_df=test)
    val = run.val_data
    run.learner.validate(class_names=run.preproc.get_classes())
    f1 = run.interpret().per_class_f1()
    print(f"SMS spam F1 {f1['spam']:.4f} on {len(val.x)} held-out messages")
    assert f1["spam"] >= 0.90


def r10(frame):
    labels = frame["labels"].astype(str).str.split("|").apply(lambda ls: "|".join(x for x in ls if x in R10))
    return frame.assign(labels=labels)[labels != ""]


def test_reuters_r10_micro_f1_beats_tfidf_on_the_same_split():
    default_encoder_or_skip()
    train = r10(pd.read_csv(shared_path("reuters", "reuters_modapte_r90_train.csv"))).sample(REUTERS_DOCS, random_state=0)
    test = r10(pd.read_csv(shared_path("reuters", "reuters_modapte_r90_test.csv"))).sample(800, random_state=0)
    # thresholds are tuned on 15% of the training documents, never on the test documents
    settings = ktbert.TrainingSettings("text", "labels", label_sep="|", val_pct=0.15, maxlen=REUTERS_MAXLEN,
                                       batch_size=16, epochs=REUTERS_EPOCHS, lr=REUTERS_LR,
                                       tune_thresholds=True, seed=0, verbose=2)
    run = ktbert.train_classifier(settings, train, test_df=test)
    assert run.preproc.multilabel and sorted(run.preproc.get_classes()) == sorted(R10)
    assert run.learner.model.get_layer("classifier").activation.__name__ == "sigmoid"
    bert = run.scores
    tfidf = scores(run.test_data.y, tfidf_logreg(run.train_data, run.test_data, len(R10)),
                   ktbert.Decisions(len(R10), multilabel=True))
    print(f"Reuters R10 micro-F1: fine-tuned {bert['micro_f1']:.4f}, TF-IDF {tfidf['micro_f1']:.4f}")
    assert bert["micro_f1"] > tfidf["micro_f1"]
