"""Predicts with a ktbert ONNX export, using onnxruntime and tokenizers alone: no TensorFlow, no ktbert.

    ktbert export sentiment sentiment-onnx --format onnx
    python examples/onnx_predict.py sentiment-onnx "what a film!" "a dull, joyless mess"
"""

import json
import re
import sys
import unicodedata

import numpy as np
import onnxruntime
from tokenizers import Tokenizer


def token_ids(text, config, tokenizer):
    """What ktbert's text pipeline does: cap the characters, clean, tokenize, truncate, pack."""
    cap, special = config["max_chars"], config["special_ids"]
    both_ends = config["truncation"] == "head+tail" and len(text) > 2 * cap
    text = text[:cap] + " " + text[-cap:] if both_ends else text[:cap]
    for pattern, rewrite in config["clean"]:
        text = re.sub(pattern, rewrite, text)
    ids = []
    for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text)):
        if config["lowercase"]:  # keras-hub case-folds each word (NFKC_Casefold)
            word = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
        fits = len(word.encode("utf-8")) <= config["max_bytes_per_word"]
        ids += [token.id for token in tokenizer.model.tokenize(word)] if fits else [special["[UNK]"]]
    budget, head = config["maxlen"] - 2, config["head_tokens"]
    if len(ids) > budget:  # the first `head` ids and the last `budget - head`
        ids = ids[:head] + ids[len(ids) - (budget - head):]
    return [special["[CLS]"]] + ids + [special["[SEP]"]]


def predict_proba(folder, texts):
    with open(f"{folder}/ktbert.json", encoding="utf-8") as f:
        config = json.load(f)
    tokenizer = Tokenizer.from_file(f"{folder}/{config['tokenizer']}")
    session = onnxruntime.InferenceSession(f"{folder}/{config['model']}", providers=["CPUExecutionProvider"])
    rows = [token_ids(text, config, tokenizer) for text in texts]
    lengths = np.array([len(row) for row in rows])
    token_ids_ = np.full((len(rows), lengths.max()), config["special_ids"]["[PAD]"], dtype=np.int64)
    for i, row in enumerate(rows):
        token_ids_[i, : len(row)] = row
    padding_mask = (np.arange(lengths.max()) < lengths[:, None]).astype(np.int64)
    feed = {"token_ids": token_ids_, "padding_mask": padding_mask, "segment_ids": np.zeros_like(token_ids_)}
    return session.run([config["output"]], {name: feed[name] for name in config["inputs"]})[0], config


if __name__ == "__main__":
    proba, config = predict_proba(sys.argv[1], sys.argv[2:])
    for text, row in zip(sys.argv[2:], proba):
        print(config["class_names"][int(row.argmax())], np.round(row, 4).tolist(), text[:60])
