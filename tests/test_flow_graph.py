"""The flow's velocity graph, kept between runs (issue 24, `neuroart.generate.flow_graph`).

The cache holds two things: the graph, and the layout of the file's weights. The tests check
four things:

- a flow that sampled once opens in a new process from the cache, with no Keras model built,
  and draws the same bytes;
- a gradient through it still works;
- a damaged, disabled or foreign cache only means tracing again;
- a model whose weights changed since loading leaves no layout behind.

Each test samples a copy of the bundled flow under a model name of its own: a new config, so
an architecture whose graph this process has not registered yet.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from neuroart.models import resolve


def fresh_flow(folder, tag: str):
    """The bundled flow's weights under the model name ``flow_<tag>``: (path, architecture key)."""
    from neuroart.generate import flow_graph

    path = folder / f"flow_{tag}.keras"
    with zipfile.ZipFile(resolve("flow")) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["name"] = f"flow_{tag}"
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    config_sha = hashlib.sha256(zipfile.ZipFile(path).read("config.json")).hexdigest()
    return path, flow_graph.architecture_key(config_sha)


def graph_file(cache, arch):
    from neuroart.generate import flow_graph

    return cache / f"velocity-{flow_graph._graph_key(arch, 0.0)}.pb"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NEUROART_GRAPH_CACHE", raising=False)
    return tmp_path / "xdg" / "neuroart" / "graphs"


HIT = """
import sys, numpy as np
from neuroart.generate import flow_graph
from neuroart.generate.sample import generate
from neuroart.dream.flowdream import FlowDreamConfig, dream_flow
from neuroart.models import load_classifier
flow = flow_graph.open_flow(flow_graph.Path(sys.argv[1]))
assert isinstance(flow, flow_graph.FlowFile), flow
images, _ = generate([3, 8], per_digit=2, model=sys.argv[1], seed=5)
built = flow._keras is not None
np.save(sys.argv[2], images)
# a gradient through the flow builds the Keras model then (eagerly, though first asked for in a trace)
steered = dream_flow(np.array([1, 7]), classifier=load_classifier("mlp"), cfg=FlowDreamConfig(flow=sys.argv[1], gradient="flow"))
np.save(sys.argv[3], steered)
print("built before the dream:", built, "after:", flow._keras is not None)
"""


def test_a_flow_that_sampled_once_opens_from_the_cache_and_draws_the_same_bytes(cache, tmp_path):
    from neuroart.generate import flow_graph
    from neuroart.generate.sample import generate

    path, arch = fresh_flow(tmp_path, "hit")
    assert flow_graph.open_flow(path) is None  # nothing kept yet
    traced, _ = generate([3, 8], per_digit=2, model=str(path), seed=5)
    assert sorted(p.name for p in cache.iterdir()) == sorted([graph_file(cache, arch).name, f"weights-{arch}.json"])
    bundled, _ = generate([3, 8], per_digit=2, model="flow", seed=5)
    assert np.array_equal(traced, bundled)  # the name is not in the graph: the same graph, the same weights

    out, dreamt = tmp_path / "hit.npy", tmp_path / "dreamt.npy"
    run = subprocess.run([sys.executable, "-c", HIT, str(path), str(out), str(dreamt)], capture_output=True, text=True,
                         timeout=240, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "built before the dream: False after: True" in run.stdout
    assert np.array_equal(np.load(out), traced)  # read back, the same graph on the same weights
    from neuroart.dream.flowdream import FlowDreamConfig, dream_flow
    from neuroart.models import load_classifier, load_model

    keras_flow = load_model(path, role="flow")
    steered = dream_flow(np.array([1, 7]), classifier=load_classifier("mlp"),
                         cfg=FlowDreamConfig(flow=keras_flow, gradient="flow"))
    assert np.array_equal(np.load(dreamt), steered)  # the gradient through the file's own weights


def test_a_damaged_disabled_or_foreign_cache_only_means_tracing_again(cache, tmp_path, monkeypatch):
    from neuroart.generate import flow_graph
    from neuroart.generate.sample import generate

    path, arch = fresh_flow(tmp_path, "damaged")
    key, name = flow_graph._graph_key(arch, 0.0), f"neuroart_velocity_{flow_graph._graph_key(arch, 0.0)}"
    cache.mkdir(parents=True)
    graph_file(cache, arch).write_bytes(b"not a graph")
    assert flow_graph._read_graph(key, name) is None and flow_graph.open_flow(path) is None
    drawn, _ = generate([0], per_digit=3, model=str(path), seed=1)  # traced, and kept in its place
    assert np.array_equal(drawn, generate([0], per_digit=3, model="flow", seed=1)[0])
    assert flow_graph._read_graph(key, name) is not None
    assert flow_graph._read_graph(key, "neuroart_velocity_another") is None  # another name: not read as this one
    assert isinstance(flow_graph.open_flow(path), flow_graph.FlowFile)

    monkeypatch.setattr(flow_graph, "_FILES", {})  # a flow once opened stays open in its process
    (cache / f"weights-{arch}.json").write_text("{not json")
    assert flow_graph.open_flow(path) is None

    monkeypatch.setenv("NEUROART_GRAPH_CACHE", "0")
    off, off_arch = fresh_flow(tmp_path, "off")
    assert not flow_graph.enabled() and flow_graph.open_flow(off) is None
    generate([0], per_digit=1, model=str(off), seed=1)
    assert not graph_file(cache, off_arch).exists() and not (cache / f"weights-{off_arch}.json").exists()


def test_a_model_changed_since_loading_leaves_no_layout(cache, tmp_path):
    from neuroart.generate import flow_graph
    from neuroart.models import load_model

    path, arch = fresh_flow(tmp_path, "changed")
    model = load_model(path, role="flow")
    flow_graph._remember_layout(model, arch)
    layout = cache / f"weights-{arch}.json"
    assert layout.exists()  # loaded as it is in the file: its layout is learnt
    layout.unlink()
    v = model.trainable_variables[0]
    v.assign(v + 1.0)
    flow_graph._remember_layout(model, arch)
    assert not layout.exists()


def test_a_layout_learnt_from_equal_arrays_holds_only_where_they_are_equal(cache, tmp_path, monkeypatch):
    """Equal arrays are matched either way round; the layout says so, and a file of the same
    architecture where they differ opens as a Keras model instead."""
    from neuroart.generate import flow_graph
    from neuroart.generate.sample import generate

    path, arch = fresh_flow(tmp_path, "twins")
    generate([0], per_digit=1, model=str(path))  # learns the layout, and keeps the graph
    kept = json.loads((cache / f"weights-{arch}.json").read_text())
    arrays = flow_graph._file_arrays(path)
    assert flow_graph._fits(arrays, kept["weights"], kept["equal"])
    assert kept["equal"], "the bundled U-Net has biases that stay equal (summed convolutions)"
    first, second = kept["equal"][0][:2]
    assert np.array_equal(arrays[first], arrays[second])
    other = {**arrays, second: arrays[second] + 1.0}  # a file of the same architecture where they differ
    assert not flow_graph._fits(other, kept["weights"], kept["equal"])
    monkeypatch.setattr(flow_graph, "_FILES", {})
    monkeypatch.setattr(flow_graph, "_file_arrays", lambda _: other)
    assert flow_graph.open_flow(path) is None


def test_the_cache_folder_keeps_the_files_used_last(cache, monkeypatch):
    from neuroart.generate import flow_graph

    monkeypatch.setattr(flow_graph, "KEEP", 3)
    for i in range(5):
        flow_graph._write(cache / f"velocity-{i}.pb", b"x")
        os.utime(cache / f"velocity-{i}.pb", ns=(i * 10**9, i * 10**9))  # written one second apart
    assert sorted(p.name for p in cache.iterdir()) == ["velocity-2.pb", "velocity-3.pb", "velocity-4.pb"]
