"""Texts stored one file each in one sub-folder per class (the aclImdb layout).

Every file is decoded with the given encoding and must hold some text: undecodable and blank
files are both refused by name, whichever way the folders are laid out.
"""

from __future__ import annotations

import os


def read_class_folders(folder, classes, encoding):
    """Reads `folder/<class>/*` files; returns the texts and each text's class name.

    Hidden files and sub-folders are skipped; undecodable and blank files are refused by name.
    """
    found = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    wanted = list(classes) if classes else found
    missing = [c for c in wanted if c not in found]
    if missing:
        raise ValueError(
            f"class folder(s) {missing} not found in {folder!r}. Sub-folders present: {found}"
        )
    texts, labels, bad, blank = [], [], [], []
    for name in wanted:
        sub = os.path.join(folder, name)
        for file in sorted(os.listdir(sub)):
            path = os.path.join(sub, file)
            if not os.path.isfile(path) or file.startswith("."):
                continue
            with open(path, "rb") as f:
                raw = f.read()
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as err:
                bad.append(f"{path} (byte {err.start})")
                continue
            if not text.strip():
                blank.append(path)
                continue
            texts.append(text)
            labels.append(name)
    if bad:
        raise ValueError(
            f"{len(bad)} file(s) are not valid {encoding} text: {bad[:5]}. Pass their encoding, "
            "e.g. encoding='latin-1', or fix those files."
        )
    if blank:
        raise ValueError(
            f"{len(blank)} file(s) are empty or blank: {blank[:5]}. A classifier cannot learn "
            "from them: remove those files."
        )
    if not texts:
        raise ValueError(f"No text files found under {folder!r} in class folders {wanted}.")
    return texts, labels


