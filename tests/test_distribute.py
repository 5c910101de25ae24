"""`neuroart.distribute`: shards of a job, TF_CONFIG, and tf.distribute strategies (issue 13).

The strategy tests run in subprocesses: logical CPU devices must be configured before
TensorFlow starts, and a MultiWorkerMirroredStrategy is one per process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

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


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:65536", "[::1]:70000"])
def test_tf_config_ports_are_1_to_65535(address):
    """TensorFlow wraps 99999 round to another port and waits forever: refused first (issue 19)."""
    raw = json.dumps({"cluster": {"worker": ["127.0.0.1:2222", address]}, "task": {"type": "worker", "index": 0}})
    with pytest.raises(NeuroartError, match=r"port \d+ is out of range \(1-65535\)"):
        tf_config({"TF_CONFIG": raw})
    ok = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "[::1]:65535"]}, "task": {"type": "worker", "index": 1}})
    assert tf_config({"TF_CONFIG": ok})["task"]["index"] == 1


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
