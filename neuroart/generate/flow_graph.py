"""The flow's forward pass as a TensorFlow graph, traced once per machine and kept between runs.

A few-step flow draws 100 digits in about 0.5 s. Two costs used to come with it in every
process:

- about 0.5 s to trace the U-Net into a graph;
- about 0.4 s to build the Keras model before its weights load.

The traced graph depends only on these:

- the architecture (the model file's ``config.json``, or the model's config);
- the code of its layers (this file, ``flow.py`` and ``flow_layers.py``);
- the guidance weight;
- the TensorFlow and Keras versions.

The weights are not part of it: they are inputs (Keras's `stateless_call`). So the graph is kept
as a FunctionDef (about 160 KB) under ``$XDG_CACHE_HOME/neuroart/graphs`` (``~/.cache/...``),
keyed by a hash of all four. A later process registers that FunctionDef with TensorFlow's eager
runtime and calls it by name, instead of tracing again. JAX's persistent compilation cache and
numba's ``cache=True`` work the same way.

Beside the graph goes the layout of the file's weights: which array of ``model.weights.h5``
feeds which input. It is found by matching the loaded model's weights to the file's arrays, byte
for byte. Arrays equal to each other are noted, and the layout then holds only for files where
they are equal too. With both kept, `open_flow` returns a `FlowFile`: the graph and the file's arrays,
with no Keras model built. It builds the model only if something asks for more, such as a
gradient through the flow.

Traced or read back, the same graph runs on the same bytes of weights, so the digits are the
same bytes. A damaged or unwritable cache only means tracing again, and
``NEUROART_GRAPH_CACHE=0`` turns the cache off.

The cache is trusted as code is. A graph can hold any TensorFlow op, so anyone who can write to
the cache folder could make a later run do what such ops do. That is the same trust as
``~/.bashrc``, and the reason the folder is the user's own.

Registering and calling a FunctionDef by name uses TensorFlow's eager context
(``tensorflow.python.eager.context``). `tf.function` does the same when it calls a traced
function. If that module ever moves, the graph is traced in process as before.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .._util import NeuroartError, atomic_path, cache_dir, tf

#: The files whose code the traced graph comes from (a change to any is a new graph).
_CODE = ("flow.py", "flow_layers.py", "flow_graph.py")
_CODE_HASH: list[str] = []
KEEP = 64  # files the cache folder keeps (about 160 KB a graph)
_FILES: dict = {}  # (path, mtime) -> FlowFile, so a flow opened twice is one object


def enabled() -> bool:
    """Whether traced graphs are kept between runs (``NEUROART_GRAPH_CACHE=0`` turns it off, and
    so does a user without a home folder to keep them in)."""
    if os.environ.get("NEUROART_GRAPH_CACHE", "1").strip().lower() in ("0", "off", "no", "false", ""):
        return False
    try:
        _folder()
    except RuntimeError:  # Path.expanduser: no home folder
        return False
    return True


def _folder() -> Path:
    return cache_dir() / "graphs"


def _code_hash() -> str:
    if not _CODE_HASH:
        here = Path(__file__).parent
        _CODE_HASH.append(hashlib.sha256(b"".join((here / f).read_bytes() for f in _CODE)).hexdigest())
    return _CODE_HASH[0]


def architecture_key(config_sha: str) -> str:
    """The hash of an architecture (its config's sha256) with the code and versions it is traced by."""
    import keras

    spec = {"config": config_sha, "code": _code_hash(), "tensorflow": tf().__version__, "keras": keras.__version__}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def _config_sha(model) -> str:
    """The sha256 of the ``config.json`` `model` was loaded from (`models.load_model` keeps it),
    else of its config."""
    sha = getattr(model, "_neuroart_config_sha", None)
    if sha:
        return sha
    return hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=repr).encode()).hexdigest()


def _graph_key(arch: str, guidance: float) -> str:
    return hashlib.sha256(f"{arch} {float(guidance)!r}".encode()).hexdigest()[:32]


def _variables(model) -> list:
    return list(model.trainable_variables) + list(model.non_trainable_variables)


# --------------------------------------------------------------------------- the velocity graph


def velocity_graph(model, guidance: float, ops):
    """``(x, t, labels) -> v`` with eager tensors (t a float32 scalar): ``ops(net, x, t, y)``,
    the velocity as TensorFlow ops for a network ``net(inputs, training=False)`` (`flow.py`'s,
    at guidance `guidance`). It is traced with `model`'s weights as inputs, or read back from
    the cache. A `FlowFile` feeds it the file's arrays; a Keras model feeds it its weights as
    they are at each call."""
    T = tf()
    if isinstance(model, FlowFile):
        name = _register(model.arch, guidance, model, ops)
        weights = model.weights_as_tensors()
        return lambda x, t, y: _call(name, [x, t, y, *weights])
    arch = architecture_key(_config_sha(model))
    name = _register(arch, guidance, model, ops)
    if enabled():
        _remember_layout(model, arch)
    variables = _variables(model)

    def call(x, t, y):
        # the weights are read at each call: a model still training steps with its current ones
        return _call(name, [x, t, y, *(T.convert_to_tensor(v) for v in variables)])

    return call


def _call(name: str, inputs):
    from tensorflow.python.eager import context

    return context.context().call_function(name.encode(), inputs, 1)[0]


def _register(arch: str, guidance: float, model, ops) -> str:
    """The name of the velocity graph for (`arch`, `guidance`) in this process's eager runtime:
    already there, read from the cache, or traced from `model` (a `FlowFile` builds its Keras
    model for that) and kept."""
    from tensorflow.python.eager import context

    ctx = context.context()
    key = _graph_key(arch, guidance)
    name = f"neuroart_velocity_{key}"
    if not ctx.has_function(name):
        fdef = _read_graph(key, name) if enabled() else None
        n_weights = len(model._weights) if isinstance(model, FlowFile) else len(_variables(model))
        if fdef is not None and len(fdef.signature.input_arg) != 3 + n_weights:  # not this model's
            fdef = None
        if fdef is None:
            fdef = _trace(model.keras if isinstance(model, FlowFile) else model, ops, name)
            if enabled():
                _write(_folder() / f"velocity-{key}.pb", fdef.SerializeToString())
        ctx.add_function_def(fdef)
    return name


def _trace(model, ops, name: str):
    """The FunctionDef of `ops` on `model` with the weights as inputs, renamed `name` (a traced
    function's own name is a counter of its process: another process may hold the same one)."""
    T = tf()
    variables = _variables(model)
    n_train = len(model.trainable_variables)

    def traced(x, t, y, *weights):
        def net(inputs, training=False):
            out, _ = model.stateless_call(list(weights[:n_train]), list(weights[n_train:]), inputs, training=training)
            return out

        return ops(net, x, t, y)

    specs = [T.TensorSpec((None, 28, 28), "float32"), T.TensorSpec((), "float32"), T.TensorSpec((None, 1), "int32")]
    specs += [T.TensorSpec(v.shape, v.dtype) for v in variables]
    concrete = T.function(traced, autograph=False).get_concrete_function(*specs)
    library = concrete.graph.as_graph_def().library
    if len(library.function):  # nested functions would need renaming too; none are expected
        raise RuntimeError(f"the flow's velocity graph calls {len(library.function)} other functions")
    fdef = concrete.function_def
    fdef.signature.name = name
    return fdef


def _read_graph(key: str, name: str):
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework.function_pb2 import FunctionDef

    path = _folder() / f"velocity-{key}.pb"
    try:
        fdef = FunctionDef.FromString(path.read_bytes())
        path.touch()  # used: the last to go when the folder is full
    except (OSError, DecodeError):  # missing, or not a FunctionDef
        return None
    return fdef if fdef.signature.name == name else None


def _write(path: Path, data: bytes) -> None:
    """Keep `data` at `path`; the folder keeps the `KEEP` files used last (code, versions and
    models change: old graphs are never asked for again)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        kept = sorted(path.parent.glob("*-*.*"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, NeuroartError):  # an unwritable cache: the next run traces again
        pass


# --------------------------------------------------------------------------- the file's weights


def _file_arrays(path) -> dict[str, np.ndarray]:
    """Every array of a ``.keras`` file's ``model.weights.h5``, by its path in the file."""
    import h5py

    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        out: dict[str, np.ndarray] = {}
        f.visititems(lambda name, item: out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return out


def _remember_layout(model, arch: str) -> None:
    """Keep which array of the model's file feeds each weight input, if `model` was loaded from
    a file and its weights are still that file's, byte for byte (else nothing is kept).

    Arrays equal byte for byte cannot be told apart this way (in the bundled U-Net, the biases
    of two convolutions summed into one output get the same gradients, so they stay equal). The
    layout names one of them for both, and lists such groups under ``equal``: it holds for a
    file only where they are equal there too (`open_flow` checks)."""
    source = getattr(model, "_neuroart_source", None)
    layout_file = _folder() / f"weights-{arch}.json"
    if source is None or getattr(model, "_neuroart_config_sha", None) is None or layout_file.exists():
        return
    try:
        arrays = _file_arrays(source)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return
    groups: dict = {}
    for name, a in arrays.items():
        groups.setdefault((a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).digest()), []).append(name)
    layout = []
    for v in _variables(model):
        a = np.asarray(v)
        names = groups.get((a.dtype.str, a.shape, hashlib.sha256(a.tobytes()).digest()))
        if names is None:  # changed since it was loaded (training): not the file's layout to learn
            return
        layout.append(names[0])
    if len(layout) != len(arrays):
        return
    equal = [sorted(names) for names in groups.values() if len(names) > 1]
    _write(layout_file, json.dumps({"weights": layout, "equal": equal}).encode())


def _fits(arrays: dict[str, np.ndarray], layout: list[str], equal: list[list[str]]) -> bool:
    """Whether a kept layout holds for a file's `arrays`: it names them all, and the groups it
    learnt as equal are equal here too."""
    if not all(name in arrays for name in layout) or len(arrays) != len(layout):
        return False
    if not all(name in arrays for group in equal for name in group):
        return False
    return all(all(np.array_equal(arrays[g[0]], arrays[n]) for n in g[1:]) for g in equal)


class FlowFile:
    """A flow ``.keras`` file whose velocity graph and weight layout are in the cache: it samples
    from the graph and the file's arrays, with no Keras model built. Anything else asked of it
    (its layers' weights, a gradient through it) builds the Keras model then (`keras`).

    `layers` holds its `StepTimes` (the few-step grid and ink levels) and its `TimeEmbedding`,
    the flow's marks (`flow.flow_times`, `flow.finish`, `flow.is_flow`).
    """

    def __init__(self, path: Path, arch: str, layers: list, layout: list[str], arrays: dict[str, np.ndarray]):
        self.path, self.arch, self.layers = path, arch, layers
        self._neuroart_source = str(path)
        self._weights = [arrays[name] for name in layout]
        self._tensors = None
        self._keras = None

    @property
    def keras(self):
        """The Keras model of the file (built on first use, contract checked). Built eagerly even
        when first asked for inside a `tf.function` (a gradient through the flow): built in the
        traced graph, its variables would start from their initializers, not the file's weights."""
        if self._keras is None:
            from ..models import load_model

            with tf().init_scope():
                self._keras = load_model(self.path, role="flow")
        return self._keras

    def weights_as_tensors(self) -> list:
        if self._tensors is None:
            T = tf()
            self._tensors = [T.constant(a) for a in self._weights]
        return self._tensors

    def __call__(self, *args, **kwargs):
        return self.keras(*args, **kwargs)

    def __getattr__(self, name):  # only for what is not set above: the Keras model's own
        if name.startswith("__") or name in ("_keras", "_weights", "_tensors"):
            raise AttributeError(name)
        return getattr(self.keras, name)


def open_flow(path) -> FlowFile | None:
    """A `FlowFile` for the flow file `path` when the cache holds its weight layout and its
    unguided velocity graph (a flow that has sampled on this machine before), else None."""
    if not enabled():
        return None
    path = Path(path)
    try:
        key = (str(path.resolve()), path.stat().st_mtime_ns)
        if key in _FILES:
            return _FILES[key]
        with zipfile.ZipFile(path) as z:
            config_bytes = z.read("config.json")
        arch = architecture_key(hashlib.sha256(config_bytes).hexdigest())
        graph = _folder() / f"velocity-{_graph_key(arch, 0.0)}.pb"
        layout_file = _folder() / f"weights-{arch}.json"
        kept = json.loads(layout_file.read_text())
        layout, equal = kept["weights"], kept.get("equal", [])
        if not graph.exists():
            return None
        arrays = _file_arrays(path)
        if not _fits(arrays, layout, equal):
            return None
        layers = _marks(json.loads(config_bytes))
        layout_file.touch()  # used: the last to go when the folder is full
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None
    if layers is None:
        return None
    if len(_FILES) >= 4:
        _FILES.pop(next(iter(_FILES)))
    _FILES[key] = FlowFile(path, arch, layers, layout, arrays)
    return _FILES[key]


def load(name, *, role: str | None = "flow"):
    """The flow `name` (a bundled name or a ``.keras`` path) as a `FlowFile` when the cache
    holds what it needs (`open_flow`), else as its Keras model (`models.load_model`, `role`
    checked)."""
    from ..models import load_model, resolve

    return open_flow(resolve(name)) or load_model(name, role=role)


def _marks(config: dict) -> list | None:
    """The flow's `TimeEmbedding` and `StepTimes` layers, made from the file's config (None when
    the config is not a flow's)."""
    from .flow_layers import StepTimes, TimeEmbedding

    made = []
    for layer in config.get("config", {}).get("layers", []):
        cls, cfg = layer.get("registered_name"), layer.get("config", {})
        if cls == "neuroart>TimeEmbedding":
            made.append(TimeEmbedding(dim=int(cfg["dim"]), name=cfg.get("name")))
        elif cls == "neuroart>StepTimes":
            made.append(StepTimes(times=cfg.get("times", ()), levels=cfg.get("levels"), name=cfg.get("name")))
    return made if any(isinstance(m, TimeEmbedding) for m in made) else None
