"""Beyond one device: `tf.distribute` strategies for training, and shards for batch jobs.

Training runs on TensorFlow's own engine. `resolve_strategy` picks one:

- ``default``     -- one device (TensorFlow's default strategy: exactly today's training);
- ``mirrored``    -- `tf.distribute.MirroredStrategy`: one replica per local GPU (or per
  logical CPU device), gradients all-reduced every step;
- ``multiworker`` -- `tf.distribute.MultiWorkerMirroredStrategy`: one process per machine,
  the cluster named by the ``TF_CONFIG`` environment variable (see docs/scale.md);
- ``auto``        -- multiworker when ``TF_CONFIG`` names a cluster of more than one task,
  mirrored when more than one GPU is visible, else default.

Batch jobs (``generate``, ``dream``, ``explain``, ``dataset``) split by `job_rows` (rows of a
job; `parse_shard` / `shard_range` underneath): shard ``I/N`` does exactly rows
``job_rows(n_rows, (I, N))`` of the whole job, so N processes (or machines) together make the
same bytes as one run.

TensorFlow is imported only when a strategy is built; parsing is pure Python.
"""

from __future__ import annotations

import json
import os

from ._util import NeuroartError, tf

STRATEGIES = ("auto", "default", "mirrored", "multiworker")

# --------------------------------------------------------------------------- shards


def parse_shard(text) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; anything else is a one-line NeuroartError.

    A tuple ``(I, N)`` is checked the same way; None means the whole job, ``(0, 1)``.
    """
    if text is None:
        return (0, 1)
    if isinstance(text, (tuple, list)):
        if len(text) != 2:
            raise NeuroartError(f"shard must be I/N (like 0/4), got {text!r}")
        i, n = text
    else:
        s = str(text).strip()
        if s.count("/") != 1:
            raise NeuroartError(f"shard must be I/N (like 0/4: the first of four), got {s!r}")
        i, n = s.split("/")
    try:
        i, n = int(str(i).strip()), int(str(n).strip())
    except ValueError:
        raise NeuroartError(f"shard must be two whole numbers I/N (like 0/4), got {text!r}") from None
    if n < 1:
        raise NeuroartError(f"shard {i}/{n}: the number of shards N must be at least 1")
    if not 0 <= i < n:
        raise NeuroartError(f"shard {i}/{n}: I must be between 0 and {n - 1} (shards count from 0)")
    return (i, n)


def shard_range(n_items: int, i: int, n: int) -> range:
    """The items of shard `i` of `n` among `n_items`: contiguous, sizes differing by at most one.

    Concatenating the ranges of shards 0..n-1 gives ``range(n_items)`` in order.
    """
    i, n = parse_shard((i, n))
    n_items = int(n_items)
    if n_items < 0:
        raise NeuroartError(f"cannot shard {n_items} items")
    base, extra = divmod(n_items, n)
    start = i * base + min(i, extra)
    return range(start, start + base + (1 if i < extra else 0))


def check_shard(shard) -> tuple[int, int]:
    """A library's ``shard=`` keyword: None, ``(i, n)`` or ``"i/n"`` -> a checked ``(i, n)``."""
    return parse_shard(shard)


def job_rows(n_rows: int, shard=None) -> range:
    """The rows of a job that `shard` does: the one helper of every sharded batch job.

    A job is `n_rows` rows that are computed independently (a grid row of dreams, a row of
    generated digits, a compiled chunk of explanations); `shard` is None (the whole job),
    ``(i, n)`` or ``"i/n"``. Returns the contiguous row indices of shard i of n (`shard_range`):
    shards 0..n-1 together are ``range(n_rows)``, in order. `row_items` turns rows into items.
    """
    return shard_range(n_rows, *parse_shard(shard))


def row_items(rows: range, per_row: int) -> slice:
    """The items of `rows` when every row holds `per_row` items (images of a grid row, ...)."""
    return slice(rows.start * int(per_row), rows.stop * int(per_row))


# --------------------------------------------------------------------------- TF_CONFIG


def tf_config(environ=None) -> dict | None:
    """The parsed ``TF_CONFIG`` (None when unset or empty), checked: JSON, a cluster, a task in it.

    Every problem is one line naming what is wrong (not JSON, no cluster, no task, a task type
    or index the cluster does not have, an address without a port or with one outside 1-65535).
    """
    env = os.environ if environ is None else environ
    raw = env.get("TF_CONFIG", "")
    if not raw.strip():
        return None
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise NeuroartError(f"TF_CONFIG is not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(cfg, dict):
        raise NeuroartError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    cluster = cfg.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise NeuroartError("TF_CONFIG names no cluster (expected \"cluster\": {\"worker\": [\"host:port\", ...]})")
    for kind, addrs in cluster.items():
        if not isinstance(addrs, list) or not addrs or not all(isinstance(a, str) for a in addrs):
            raise NeuroartError(f"TF_CONFIG cluster {kind!r} must be a list of \"host:port\" addresses")
        for a in addrs:
            host, _, port = a.rpartition(":")
            if not host or not (port.isascii() and port.isdigit()):
                raise NeuroartError(f"TF_CONFIG address {a!r} is not host:port")
            if not 1 <= int(port) <= 65535:
                raise NeuroartError(f"TF_CONFIG address {a!r}: port {int(port)} is out of range (1-65535)")
    task = cfg.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise NeuroartError("TF_CONFIG names no task (expected \"task\": {\"type\": \"worker\", \"index\": 0})")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise NeuroartError(f"TF_CONFIG task type {kind!r} is not in the cluster ({', '.join(cluster)})")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise NeuroartError(f"TF_CONFIG task index {index!r} is out of range for {len(cluster[kind])} {kind}(s)")
    return cfg


def cluster_size(environ=None) -> int:
    """How many tasks ``TF_CONFIG`` names (1 when it is unset)."""
    cfg = tf_config(environ)
    if cfg is None:
        return 1
    return sum(len(v) for k, v in cfg["cluster"].items() if k in ("chief", "worker"))


def is_chief(environ=None) -> bool:
    """Whether this process saves: the ``chief`` task, else worker 0, else (no TF_CONFIG) yes."""
    cfg = tf_config(environ)
    if cfg is None:
        return True
    task = cfg["task"]
    if "chief" in cfg["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


# --------------------------------------------------------------------------- strategies


def check_strategy(name: str = "auto") -> str:
    """A strategy name checked without TensorFlow: one of `STRATEGIES`, and for ``auto`` and
    ``multiworker`` a well-formed ``TF_CONFIG`` (multiworker needs one). Front ends call it
    before any work so that bad input costs nothing."""
    name = str(name).strip().lower()
    if name not in STRATEGIES:
        raise NeuroartError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
    if name in ("auto", "multiworker"):
        cfg = tf_config()
        if cfg is None and name == "multiworker":
            raise NeuroartError("--strategy multiworker needs TF_CONFIG naming the cluster and this task (see docs/scale.md)")
    return name


def _accelerators() -> int:
    return len(tf().config.list_logical_devices("GPU"))


def resolve_strategy(name: str = "auto"):
    """A `tf.distribute.Strategy` for `name` (one of `STRATEGIES`).

    ``auto``: MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster of more than one
    task, MirroredStrategy when more than one GPU is visible, else the default strategy.
    ``mirrored`` uses every local GPU, or every logical CPU device when there is no GPU.
    """
    name = check_strategy(name)
    cfg = tf_config()  # checked before TensorFlow reads it
    if name == "auto":
        if cfg is not None and cluster_size() > 1:
            name = "multiworker"
        elif _accelerators() > 1:
            name = "mirrored"
        else:
            name = "default"
    t = tf()
    if name == "default":
        return t.distribute.get_strategy()
    if name == "mirrored":
        gpus = t.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or t.config.list_logical_devices("CPU"))]
        if len(devices) > 1 and not gpus:
            # NCCL needs GPUs; on CPU devices the all-reduce is done by copying
            return t.distribute.MirroredStrategy(devices, cross_device_ops=t.distribute.ReductionToOneDevice())
        return t.distribute.MirroredStrategy(devices)
    if cfg is None:
        raise NeuroartError("--strategy multiworker needs TF_CONFIG naming the cluster and this task (see docs/scale.md)")
    return _multiworker()


_MULTIWORKER = None


def _multiworker():
    """The process's one MultiWorkerMirroredStrategy (TensorFlow allows one: collective ops are
    configured once, at start-up).

    TensorFlow wants it made before its runtime starts; `neuroart._util.tf` starts it at import
    (a first op), so when nothing lives in the runtime yet -- no variables, no models -- the
    eager context is reset first. Made later than that, TensorFlow's own error is turned into one line.
    """
    global _MULTIWORKER
    if _MULTIWORKER is not None:
        return _MULTIWORKER
    t = tf()
    from tensorflow.python.eager import context

    try:
        if context.context()._context_handle is not None:  # the runtime started: restart it
            context._reset_context()
        _MULTIWORKER = t.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        raise NeuroartError(f"cannot start the multiworker strategy: {str(e).splitlines()[0]} "
                            "(make it first: neuroart.distribute.resolve_strategy('multiworker'))") from None
    return _MULTIWORKER


def strategy_name(strategy) -> str:
    """``default``, ``mirrored`` or ``multiworker`` for a strategy object (for the model card)."""
    cls = type(strategy).__name__
    if "MultiWorker" in cls or "CollectiveAllReduce" in cls:
        return "multiworker"
    if "Mirrored" in cls:
        return "mirrored"
    return "default"


def describe_strategy(strategy) -> dict:
    """What a model card records: the strategy, its replica count and (multiworker) the workers."""
    out = {"strategy": strategy_name(strategy), "replicas": int(strategy.num_replicas_in_sync)}
    if out["strategy"] == "multiworker":
        out["workers"] = cluster_size()
    return out


# --------------------------------------------------------------------------- a custom loop


def fit_arrays(model, strategy, x=None, y=None, *, batch_size: int, epochs: int, seed: int = 0,
               callbacks=(), shuffle: bool = True, **_ignored) -> list[float]:
    """`model.fit(x, y)` for a compiled classifier (sparse categorical cross-entropy), as a custom
    loop on `strategy` -- for MultiWorkerMirroredStrategy, which Keras 3's `fit` cannot drive
    (keras-team/keras#20585: "Attempt to convert a value (PerReplica...)").

    Every worker walks the same seeded order of the same arrays; each replica takes its slice
    of every global batch, the loss is summed over the global batch, and the optimizer
    all-reduces the gradients. The last partial batch of an epoch is dropped (equal slices).
    `callbacks` get the train/epoch/batch hooks a progress bar needs. Returns the mean loss per epoch.
    """
    import numpy as np

    t = tf()
    if y is None:
        raise NeuroartError("the multiworker strategy trains from arrays (an augmented stream is not supported)")
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int64)
    replicas = int(strategy.num_replicas_in_sync)
    batch_size = int(min(batch_size, len(x)))
    batch_size -= batch_size % replicas
    steps = len(x) // batch_size if batch_size else 0
    if steps < 1:
        raise NeuroartError(f"need at least one batch of {replicas} training images (one per replica)")
    per = batch_size // replicas
    opt = model.optimizer
    variables = model.trainable_variables
    with strategy.scope():
        opt.build(variables)

    def replica_step(xb, yb):
        with t.GradientTape() as tape:
            probs = model(xb, training=True)
            picked = t.gather(probs, yb, axis=1, batch_dims=1)
            loss = -t.reduce_sum(t.math.log(t.clip_by_value(picked, 1e-7, 1.0))) / batch_size
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return loss

    @t.function(jit_compile=False)
    def step(xb, yb):
        return strategy.reduce(t.distribute.ReduceOp.SUM, strategy.run(replica_step, args=(xb, yb)), axis=None)

    def split(a):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: t.constant(a[ctx.replica_id_in_sync_group * per : (ctx.replica_id_in_sync_group + 1) * per]))

    rng = np.random.default_rng(seed)
    history = []
    for cb in callbacks:
        cb.on_train_begin()
    for epoch in range(int(epochs)):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        total = 0.0
        for s in range(steps):
            idx = order[s * batch_size : (s + 1) * batch_size]
            total += float(step(split(x[idx]), split(y[idx])))
            for cb in callbacks:
                cb.on_train_batch_end(s)
        history.append(total / steps)
    for cb in callbacks:
        cb.on_train_end()
    return history
