"""`neuroart dataset`: a synthetic labelled digit set in numbered npz files (issue 13)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dataset_two_shards_make_the_same_files_as_one(invoke, tmp_path):
    args = ["--count", "2500", "--shard-size", "1000", "--seed", "4", "-q"]
    assert invoke("dataset", "one", *args).exit_code == 0
    r0 = invoke("dataset", "two", *args, "--shard", "0/2")
    assert r0.exit_code == 0 and "manifest.json is written when all are finished" in r0.output
    assert not (tmp_path / "two" / "manifest.json").exists()
    r1 = invoke("dataset", "two", *args, "--shard", "1/2")
    assert r1.exit_code == 0 and "wrote" in r1.output
    one = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "two").iterdir())
    assert one == ["digits-00000.json", "digits-00000.npz", "digits-00001.json", "digits-00001.npz",
                   "digits-00002.json", "digits-00002.npz", "manifest.json"]
    for name in one:
        assert _sha(tmp_path / "one" / name) == _sha(tmp_path / "two" / name), name
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["digits"] == 2500 and manifest["counts"] == {str(d): 250 for d in range(10)}
    assert manifest["seed"] == 4 and len(manifest["models"]["cvae"]) == 16
    with np.load(tmp_path / "one" / "digits-00002.npz") as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (500, 28, 28)
        assert z["labels"].tolist() == [d % 10 for d in range(2000, 2500)]
    for e in manifest["files"]:
        assert _sha(tmp_path / "one" / e["file"]) == e["sha256"]


def test_dataset_refuses_another_set_in_the_same_folder(invoke, assert_clean_error, tmp_path):
    assert invoke("dataset", "d", "--count", "100", "--shard-size", "50", "-q").exit_code == 0
    assert_clean_error(invoke("dataset", "d", "--count", "100", "--shard-size", "50", "--seed", "1"), "seed")


@pytest.mark.slow
def test_dataset_resumes_after_a_kill(invoke, tmp_path):
    """Kill a run once two files are finished; the rerun keeps them and completes the set."""
    folder = tmp_path / "d"
    args = ["dataset", str(folder), "--count", "60000", "--shard-size", "1000", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "neuroart", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (folder / "digits-00001.json").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no finished file after 120 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (folder / "manifest.json").exists()
    finished = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino, _sha(p)) for p in folder.glob("digits-*")
                if p.suffix == ".npz" and (folder / (p.stem + ".json")).exists()}
    assert len(finished) >= 2
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert f"skipped {len(finished)} finished file(s)" in result.output
    for name, before in finished.items():
        p = folder / name
        assert (p.stat().st_mtime_ns, p.stat().st_ino, _sha(p)) == before, name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["files"]) == 60 and sum(manifest["counts"].values()) == 60000
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left
    for e in manifest["files"]:
        assert _sha(folder / e["file"]) == e["sha256"]
