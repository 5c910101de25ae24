"""The flow's velocity graph, kept between runs (issue 24, `neuroart.generate.flow_graph`).

The cache holds two things: the graph, and the layout of the file's weights. The tests check
four things:

- a flow that sampled once opens in a new process from the cache, with no Keras model built,
  and draws the same bytes;
- a gradient through it still works;
- a damaged, disabled or foreign cache only means tracing again;
- a model whose weights changed since loading leaves no layout behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from neuroart.models import resolve


def _names(path):
    from neuroart.generate import flow_graph

    arch = flow_graph.architecture_key(hashlib.sha256(zipfile.ZipFile(path).read("config.json")).hexdigest())
    return arch, f"neuroart_velocity_{flow_graph._graph_key(arch, 0.0)}"


def _unregister(name, monkeypatch):
    """Take the graph `name` out of this process (and the velocities that call it): the next
    call registers it again, the same graph, from the cache or traced."""
    from tensorflow.python.eager import context

    from neuroart.dream import flowdream
    from neuroart.generate import flow, flow_graph

    for module, cached in ((flow, "_VELOCITY"), (flowdream, "_STEERING"), (flow_graph, "_FILES")):
        monkeypatch.setattr(module, cached, {})
    if context.context().has_function(name):
        context.context().remove_function(name)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own; the bundled flow's graph not yet in this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NEUROART_GRAPH_CACHE", raising=False)
    _unregister(_names(resolve("flow"))[1], monkeypatch)
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
# a gradient through the flow builds the Keras model then
steered = dream_flow(np.array([1, 7]), classifier=load_classifier("mlp"), cfg=FlowDreamConfig(flow=sys.argv[1], gradient="flow"))
print("built before the dream:", built, "after:", flow._keras is not None, steered.shape)
"""


def test_a_flow_that_sampled_once_opens_from_the_cache_and_draws_the_same_bytes(cache, tmp_path):
    from neuroart.generate import flow_graph
    from neuroart.generate.sample import generate

    path = resolve("flow")
    assert flow_graph.open_flow(path) is None  # nothing kept yet
    traced, _ = generate([3, 8], per_digit=2, model="flow", seed=5)
    arch, _ = _names(path)
    kept = sorted(p.name for p in cache.iterdir())
    assert kept == sorted([f"velocity-{flow_graph._graph_key(arch, 0.0)}.pb", f"weights-{arch}.json"])

    out = tmp_path / "hit.npy"
    run = subprocess.run([sys.executable, "-c", HIT, str(path), str(out)], capture_output=True, text=True, timeout=240,
                         env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "built before the dream: False after: True (2, 28, 28)" in run.stdout
    assert np.array_equal(np.load(out), traced)  # read back, the same graph on the same weights


def test_a_damaged_disabled_or_foreign_cache_only_means_tracing_again(cache, monkeypatch):
    from neuroart.generate import flow_graph
    from neuroart.generate.sample import generate

    path = resolve("flow")
    traced, _ = generate([0], per_digit=3, model="flow", seed=1)
    arch, name = _names(path)
    graph = cache / f"velocity-{flow_graph._graph_key(arch, 0.0)}.pb"
    layout = cache / f"weights-{arch}.json"
    assert flow_graph._read_graph(flow_graph._graph_key(arch, 0.0), name) is not None
    assert flow_graph._read_graph(flow_graph._graph_key(arch, 0.0), "neuroart_velocity_another") is None

    graph.write_bytes(b"not a graph")
    assert flow_graph._read_graph(flow_graph._graph_key(arch, 0.0), name) is None
    _unregister(name, monkeypatch)
    assert isinstance(flow_graph.open_flow(path), flow_graph.FlowFile)  # the layout is whole
    again, _ = generate([0], per_digit=3, model="flow", seed=1)  # its graph traced again from its Keras model
    assert np.array_equal(again, traced) and flow_graph._read_graph(flow_graph._graph_key(arch, 0.0), name) is not None

    layout.write_text("{not json")
    monkeypatch.setattr(flow_graph, "_FILES", {})  # a flow once opened stays open in its process
    assert flow_graph.open_flow(path) is None
    layout.unlink()
    monkeypatch.setenv("NEUROART_GRAPH_CACHE", "0")
    assert not flow_graph.enabled() and flow_graph.open_flow(path) is None
    generate([0], per_digit=1, model="flow", seed=1)
    assert not layout.exists()  # nothing written when off


def test_a_model_changed_since_loading_leaves_no_layout(cache, tmp_path):
    from neuroart.generate import flow_graph
    from neuroart.models import load_model

    copy = tmp_path / "copy.keras"
    shutil.copy(resolve("flow"), copy)
    model = load_model(copy, role="flow")
    arch, _ = _names(copy)
    flow_graph._remember_layout(model, arch)
    layout = cache / f"weights-{arch}.json"
    assert layout.exists()  # loaded as it is in the file: its layout is learnt
    layout.unlink()
    v = model.trainable_variables[0]
    v.assign(v + 1.0)
    flow_graph._remember_layout(model, arch)
    assert not layout.exists()
