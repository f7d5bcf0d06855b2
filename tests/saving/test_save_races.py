"""Processes saving to the same folder at once leave one complete save, never a mixture."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ktbert
from helpers import COPY_SAVE, child_env
from ktbert.saving.manifest import read_manifest

TEXTS = ["the film was wonderful", "great acting", "the plot was poor and boring, i hate it"]


# Saves the payload of a real predictor save through `write_folder`, as `Predictor.save` does,
# `rounds` times, without loading TensorFlow (so both writers start in a fraction of a second).
RACER = COPY_SAVE + """
import time
from ktbert.saving import folder_writes

folder, source, rounds, go, locks = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
if locks == "off":
    folder_writes.fcntl = None  # as on a file system without flock
write, manifest = copy_save(source)

while not os.path.exists(go):
    time.sleep(0.001)
for _ in range(rounds):
    saving.write_folder(folder, write, manifest)
"""


@pytest.mark.parametrize("locks", ["on", "off"])
def test_two_processes_saving_to_one_folder_leave_one_complete_save(sources, tmp_path, locks):
    folder = tmp_path / "target" / "save"
    ktbert.Predictor.load(str(sources["A"])).save(str(folder))
    manifests = {name: json.loads((source / "ktbert.json").read_text()) for name, source in sources.items()}
    proba = {name: ktbert.Predictor.load(str(source)).predict(TEXTS, return_proba=True)
             for name, source in sources.items()}
    go = tmp_path / "go"
    env = child_env()
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(folder), str(sources[name]), "150", str(go), locks],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for name in ("A", "B")]
    seen, loaded, outcomes = [], None, []
    try:
        time.sleep(0.5)  # both have imported ktbert.saving.manifest
        go.touch()
        while locks == "on" and any(racer.poll() is None for racer in racers):
            # A reader in between: every manifest it reads (checksums verified) is all A's or all B's.
            manifest = read_manifest(str(folder))
            seen.append([name for name, m in manifests.items() if m == manifest])
            if loaded is None and {name for [name] in seen} == {"A", "B"}:  # mid-race, a whole load
                loaded = ktbert.Predictor.load(str(folder))  # the writers wait while it reads
        for racer in racers:
            outcomes.append((racer.communicate(timeout=120)[1][-2000:], racer.returncode))
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    assert outcomes == [("", 0), ("", 0)]
    assert all(len(names) == 1 for names in seen)
    if locks == "on":  # the reader saw the race: both saves, many times, and loaded one whole
        assert len(seen) > 30 and {name for [name] in seen} == {"A", "B"} and loaded is not None
        assert any(np.array_equal(loaded.predict(TEXTS, return_proba=True), p) for p in proba.values())
    final = read_manifest(str(folder))
    [winner] = [name for name, m in manifests.items() if m == final]
    np.testing.assert_array_equal(ktbert.Predictor.load(str(folder)).predict(TEXTS, return_proba=True),
                                  proba[winner])
    assert os.listdir(folder.parent) == ["save"]  # no .ktbert-save-* or .ktbert-old-* left
