"""Beyond one machine (issue 13): tf.distribute training, sharded batch jobs, `neuroart dataset`.

The strategy tests run in subprocesses: logical CPU devices must be configured before
TensorFlow starts, and a MultiWorkerMirroredStrategy is one per process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from neuroart._util import NeuroartError
from neuroart.distribute import cluster_size, is_chief, parse_shard, shard_range, tf_config

# --------------------------------------------------------------------------- shards and TF_CONFIG


@pytest.mark.parametrize("text, want", [("0/1", (0, 1)), ("3/4", (3, 4)), (" 1 / 2 ", (1, 2)), (None, (0, 1)),
                                        ((2, 5), (2, 5))])
def test_parse_shard(text, want):
    assert parse_shard(text) == want


@pytest.mark.parametrize("text, fragment", [("3/2", "between 0 and 1"), ("2/2", "between 0 and 1"),
                                            ("0/0", "at least 1"), ("a/b", "whole numbers"), ("1", "I/N"),
                                            ("1/2/3", "I/N"), ("-1/2", "between 0 and 1"), ("", "I/N")])
def test_parse_shard_refuses_in_one_line(text, fragment):
    with pytest.raises(NeuroartError) as e:
        parse_shard(text)
    assert fragment in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("n_items, n", [(0, 3), (1, 4), (10, 3), (10, 10), (97, 7)])
def test_shard_ranges_partition_the_items_in_order(n_items, n):
    parts = [shard_range(n_items, i, n) for i in range(n)]
    assert [j for p in parts for j in p] == list(range(n_items))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def _cfg(task, cluster=None):
    cluster = cluster or {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}


@pytest.mark.parametrize("raw, fragment", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "no cluster"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}}), "no task"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}), "out of range"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "ps", "index": 0}}), "not in the cluster"),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
])
def test_bad_tf_config_is_one_line(raw, fragment):
    with pytest.raises(NeuroartError) as e:
        tf_config({"TF_CONFIG": raw})
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_chief_is_worker_zero_or_the_chief_task():
    assert tf_config({}) is None and is_chief({}) and cluster_size({}) == 1
    assert is_chief(_cfg({"type": "worker", "index": 0}))
    assert not is_chief(_cfg({"type": "worker", "index": 1}))
    assert cluster_size(_cfg({"type": "worker", "index": 1})) == 2
    with_chief = {"chief": ["127.0.0.1:2221"], "worker": ["127.0.0.1:2222"]}
    assert is_chief(_cfg({"type": "chief", "index": 0}, with_chief))
    assert not is_chief(_cfg({"type": "worker", "index": 0}, with_chief))


# --------------------------------------------------------------------------- bad input at the CLI


@pytest.mark.parametrize("shard", ["3/2", "0/0", "a/b"])
@pytest.mark.parametrize("command", [["generate", "--npz", "g.npz"], ["dream", "--steps", "2"], ["dataset", "d"],
                                     ["explain", "digit:3"]])
def test_bad_shard_is_one_line_and_no_files(invoke, assert_clean_error, files_in, tmp_path, command, shard):
    result = invoke(*command, "--shard", shard)
    assert_clean_error(result, "shard")
    assert files_in(tmp_path) == []
    assert not (tmp_path / "d").exists()


def test_empty_shard_is_refused(invoke, assert_clean_error, files_in, tmp_path):
    assert_clean_error(invoke("generate", "3", "--shard", "1/2"), "empty")
    assert_clean_error(invoke("explain", "digit:3", "--model", "mlp", "--shard", "1/2"), "empty")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("raw, fragment", [("{not json", "not JSON"), ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "no task")])
def test_bad_tf_config_at_the_cli(invoke, assert_clean_error, files_in, tmp_path, monkeypatch, raw, fragment):
    monkeypatch.setenv("TF_CONFIG", raw)
    result = invoke("train", "classifier", "--strategy", "multiworker", "--epochs", "1", "--out", "m.keras")
    assert_clean_error(result, fragment)
    assert files_in(tmp_path) == []


# --------------------------------------------------------------------------- sharded jobs: same bytes


def test_generate_shards_concatenate_to_the_whole_job():
    from neuroart.generate import generate

    for model, digits in (("cvae", [1, 4, 4, 9]), ("vae", None)):
        whole, labels = generate(digits, per_digit=7, seed=5, model=model)  # the unsharded run
        for n in (2, 3):
            parts = [generate(digits, per_digit=7, seed=5, model=model, shard=(i, n)) for i in range(n)]
            assert np.concatenate([p[0] for p in parts]).tobytes() == whole.tobytes()
            assert np.concatenate([p[1] for p in parts]).tobytes() == labels.tobytes()
        one, one_labels = generate(digits, per_digit=7, seed=5, model=model, shard="0/1")
        assert one.tobytes() == whole.tobytes() and one_labels.tobytes() == labels.tobytes()


def test_generate_cli_shards_concatenate_byte_for_byte(invoke, tmp_path):
    args = ["generate", "2", "7", "5", "--per-digit", "4", "--seed", "3", "--no-grid"]
    assert invoke(*args, "--npz", "all.npz").exit_code == 0  # the unsharded run
    for i in range(2):
        assert invoke(*args, "--npz", f"p{i}.npz", "--shard", f"{i}/2").exit_code == 0
    whole = np.load(tmp_path / "all.npz")
    parts = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    for key in ("images", "labels"):
        assert np.concatenate([p[key] for p in parts]).tobytes() == whole[key].tobytes()


def test_dream_shards_concatenate_to_the_whole_job():
    from neuroart.dream import dream

    opts = dict(per_digit=2, steps=6, seed=2, prior="none")  # (the prior: a compile per row, slow here)
    whole = dream([3, 8], shard="0/1", frames=2, **opts)
    parts = [dream([3, 8], shard=(i, 2), frames=2, **opts) for i in range(2)]
    assert [p.rows for p in parts] == [["3"], ["8"]]
    assert np.concatenate([p.images for p in parts]).tobytes() == whole.images.tobytes()
    assert np.concatenate([p.labels for p in parts]).tobytes() == whole.labels.tobytes()
    assert np.concatenate([p.frames[-1] for p in parts]).tobytes() == whole.frames[-1].tobytes()
    plain = dream([3, 8], **opts)  # both rows in one batch: the same dreams to float rounding
    assert np.abs(plain.images - whole.images).max() < 1e-3


@pytest.mark.slow
def test_dream_cli_shards_with_the_default_prior_concatenate_byte_for_byte(invoke, tmp_path):
    args = ["dream", "1", "7", "0", "--per-digit", "3", "--steps", "20", "--seed", "6"]
    assert invoke(*args, "--npz", "all.npz", "--out", "all.png", "--shard", "0/1").exit_code == 0
    for i in range(2):
        assert invoke(*args, "--npz", f"p{i}.npz", "--out", f"p{i}.png", "--shard", f"{i}/2").exit_code == 0
    whole = np.load(tmp_path / "all.npz")
    parts = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    assert [len(p["images"]) for p in parts] == [6, 3]
    for key in ("images", "labels"):
        assert np.concatenate([p[key] for p in parts]).tobytes() == whole[key].tobytes()


def test_explain_shards_concatenate_to_the_whole_job():
    from neuroart.explain import explain, load_images

    x = load_images([f"digit:{i % 10}" for i in range(60)], seed=1)
    for method, opts in (("gradient", {}), ("smoothgrad", {"samples": 400})):  # chunks of 64; of 20
        whole = explain(x, model="mlp", method=method, shard="0/1", **opts)
        parts = [explain(x, model="mlp", method=method, shard=(i, 2), **opts) for i in range(2)]
        assert all(len(p.images) for p in parts) or method == "gradient"
        for key in ("images", "maps", "targets", "probs"):
            assert np.concatenate([getattr(p, key) for p in parts]).tobytes() == getattr(whole, key).tobytes()
        plain = explain(x, model="mlp", method=method, **opts)
        assert plain.maps.tobytes() == whole.maps.tobytes()  # the maps are the unsharded run's, too


# --------------------------------------------------------------------------- neuroart dataset


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


def test_dataset_tfrecord_reads_back(tmp_path):
    from neuroart.generate.dataset import load_dataset, make_dataset, read_tfrecord

    summary = make_dataset(tmp_path / "t", n=30, shard_size=20, digits=[0, 7], dtype="float32", tfrecord=True)
    assert summary["complete"] and summary["made"] == 2
    x, y = load_dataset(tmp_path / "t")
    assert x.dtype == np.float32 and x.shape == (30, 28, 28) and y.tolist() == [0, 7] * 15
    back = list(read_tfrecord(tmp_path / "t" / "digits-00001.tfrecord").as_numpy_iterator())
    assert len(back) == 10 and [int(b[1]) for b in back] == [0, 7] * 5
    assert np.abs(back[0][0] - x[20]).max() <= 0.5 / 255 + 1e-6


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


# --------------------------------------------------------------------------- strategies (subprocesses)


def _python(code: str, *, env=None, timeout=300):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_the_default_accuracy():
    """The article MLP, 3 epochs on 20,000 training digits: mirrored (2 replicas) vs default."""
    out = _python("""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from neuroart.classify.train import train_classifier
        cards = [train_classifier(arch="mlp", strategy=s, epochs=3, limit=20000, show_progress=False)[1]
                 for s in ("default", "mirrored")]
        print(json.dumps([{k: c[k] for k in ("test_accuracy", "strategy", "replicas")} for c in cards]))
    """, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    default, mirrored = json.loads(out.stdout.strip().splitlines()[-1])
    assert (default["strategy"], default["replicas"]) == ("default", 1)
    assert (mirrored["strategy"], mirrored["replicas"]) == ("mirrored", 2)
    assert default["test_accuracy"] > 0.94
    assert abs(mirrored["test_accuracy"] - default["test_accuracy"]) <= 0.003


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multiworker_on_loopback_trains_and_the_chief_saves_once(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    code = textwrap.dedent("""
        import json, sys
        from neuroart.classify.train import train_classifier
        _, card = train_classifier(arch="mlp", strategy="multiworker", epochs=1, limit=4000,
                                   out=sys.argv[1], show_progress=False)
        print(json.dumps({k: card.get(k) for k in ("test_accuracy", "strategy", "replicas", "workers")}))
    """)
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"w{i}.keras")], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-3000:]
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    assert outs[0] == outs[1]  # one model, trained in step by both workers
    assert outs[0]["strategy"] == "multiworker" and outs[0]["replicas"] == 2 and outs[0]["workers"] == 2
    assert outs[0]["test_accuracy"] > 0.7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0.json", "w0.keras"]  # the chief alone saved
