"""Training checkpoints: a list of arrays and a JSON record in one ``.npz``, written atomically,
read as untrusted input.

`save_checkpoint(path, weights, meta)` writes ``meta.npy`` (the record, a JSON string) and
``w0.npy`` ... ``w{n-1}.npy`` (NumPy's own npz layout, so ``np.load`` can look inside).
`load_checkpoint(path, expect_meta)` gives them back, or one `NeuroartError` line that names the
checkpoint: a truncated or foreign file, a missing array, pickled objects, an array of the wrong
shape or one that would inflate past `MAX_BYTES` are all refused from the zip's and the arrays'
headers, before any array is read; a record that differs from `expect_meta` (another recipe,
other data) is refused too, so a run never resumes from someone else's training.

No TensorFlow here: every trainer (`flow_train`, `fewstep`) passes plain arrays.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._util import NeuroartError, atomic_path

__all__ = ["MAX_BYTES", "load_checkpoint", "save_checkpoint"]

#: The format's mark in the record (a checkpoint of another layout is refused by name).
FORMAT = "neuroart-checkpoint-1"
#: Most bytes a checkpoint's arrays may hold, all together (the bundled flow's is ~17 MB).
MAX_BYTES = 1 << 30
#: Most arrays a checkpoint may hold, and the most bytes its JSON record may take.
MAX_ARRAYS, MAX_META_BYTES = 10_000, 16 << 20
#: Array kinds a checkpoint may hold: booleans and numbers (never objects, strings or records).
_KINDS = "biufc"


def save_checkpoint(path: str | os.PathLike, weights: Sequence, meta: dict) -> Path:
    """Write `weights` (arrays of numbers) and `meta` (a JSON-able dict) to `path`, atomically:
    an interrupted write leaves the previous checkpoint as it was."""
    arrays = [np.asarray(w) for w in weights]
    for i, a in enumerate(arrays):
        if a.dtype.kind not in _KINDS:
            raise NeuroartError(f"checkpoint array {i} has dtype {a.dtype}; only numbers are saved")
    try:
        record = json.dumps({"format": FORMAT, "arrays": len(arrays), "meta": meta}, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise NeuroartError(f"checkpoint meta must be plain JSON (numbers, strings, lists, dicts): {e}") from None
    path = Path(path)
    with atomic_path(path, suffix=".npz.tmp") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(record), **{f"w{i}": a for i, a in enumerate(arrays)})
    return path


def load_checkpoint(path: str | os.PathLike, expect_meta: dict | None = None, *,
                    shapes: Sequence[tuple] | None = None, max_bytes: int = MAX_BYTES) -> tuple[list[np.ndarray], dict]:
    """``(weights, meta)`` of the checkpoint at `path`.

    Every key of `expect_meta` must hold the same value in the checkpoint's record; `shapes`
    (optional) are the shapes the weights must have, checked from the headers before reading.
    Anything else than a checkpoint this module wrote is one `NeuroartError` naming `path`.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            infos = {info.filename: info for info in z.infolist()}
            meta, n = _record(path, z, infos)
            _check_meta(path, meta, expect_meta or {})
            names = [f"w{i}.npy" for i in range(n)]
            _check_entries(path, z, infos, names, shapes, max_bytes)
            weights = [_read(z, infos[name]) for name in names]
    except NeuroartError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError, zlib.error,
            NotImplementedError, RuntimeError) as e:
        raise NeuroartError(f"checkpoint {path}: not a readable checkpoint ({type(e).__name__}: {e}); "
                            "delete it to train from the start") from None
    return weights, meta


# --------------------------------------------------------------------------- reading, header first


def _header(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple, np.dtype]:
    """The (shape, dtype) of an npy member, from its first bytes only."""
    with z.open(info) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def _read(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with z.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _fail(path: Path, what: str) -> NeuroartError:
    return NeuroartError(f"checkpoint {path}: {what}; delete it to train from the start")


def _record(path: Path, z: zipfile.ZipFile, infos: dict) -> tuple[dict, int]:
    """The checkpoint's record (the caller's meta) and how many arrays it holds."""
    if len(infos) > MAX_ARRAYS + 1:
        raise _fail(path, f"{len(infos):,} entries, more than a checkpoint holds")
    info = infos.get("meta.npy")
    if info is None:
        raise _fail(path, "no record (meta) inside: not a neuroart checkpoint")
    if info.file_size > MAX_META_BYTES:
        raise _fail(path, f"its record would take {info.file_size:,} bytes")
    shape, dtype = _header(z, info)
    if shape != () or dtype.kind != "U":
        raise _fail(path, f"its record is not text ({dtype}, shape {shape})")
    record = json.loads(str(_read(z, info)))
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _fail(path, f"not a {FORMAT} file (an older or foreign checkpoint)")
    n, meta = record.get("arrays"), record.get("meta")
    if not isinstance(n, int) or not 0 <= n <= MAX_ARRAYS or not isinstance(meta, dict):
        raise _fail(path, "its record is broken")
    return meta, n


def _check_meta(path: Path, meta: dict, expect: dict) -> None:
    for key, want in expect.items():
        have = meta.get(key)
        if have == want:
            continue
        if isinstance(want, dict) and isinstance(have, dict):
            diff = [f"{k} {have.get(k)!r} there, {want.get(k)!r} here" for k in sorted({*want, *have}, key=str)
                    if have.get(k) != want.get(k)]
            detail = "; ".join(diff[:4]) + ("; ..." if len(diff) > 4 else "")
        else:
            detail = f"{have!r} there, {want!r} here"
        raise NeuroartError(f"checkpoint {path}: a checkpoint of another {key} ({detail}); "
                            "delete it, or train with the options and data it was made with")


def _check_entries(path: Path, z: zipfile.ZipFile, infos: dict, names: list[str], shapes, max_bytes: int) -> None:
    """Every array present, of numbers, of the expected shape, and all of them within `max_bytes`
    -- from the headers, before one array is read."""
    missing = [name[:-4] for name in names if name not in infos]
    if missing:
        raise _fail(path, f"array {missing[0]} is missing ({len(names) - len(missing)} of {len(names)} there: "
                    "truncated or edited)")
    extra = sorted(set(infos) - set(names) - {"meta.npy"})
    if extra:
        raise _fail(path, f"an entry it should not hold ({extra[0][:60]!r})")
    if shapes is not None and len(shapes) != len(names):
        raise _fail(path, f"{len(names)} arrays, this model needs {len(shapes)}")
    declared = sum(infos[name].file_size for name in names)
    if declared > max_bytes:
        raise _fail(path, f"its arrays would take {declared / 2**20:,.0f} MiB (at most {max_bytes / 2**20:,.0f})")
    for i, name in enumerate(names):
        _check_array(path, z, infos[name], None if shapes is None else shapes[i])


def _check_array(path: Path, z: zipfile.ZipFile, info: zipfile.ZipInfo, want: tuple | None) -> None:
    shape, dtype = _header(z, info)
    name = info.filename[:-4]
    if dtype.hasobject or dtype.kind not in _KINDS:
        raise _fail(path, f"array {name} holds {'Python objects' if dtype.hasobject else dtype}, not numbers")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > info.file_size:
        raise _fail(path, f"array {name} claims {nbytes:,} bytes in a {info.file_size:,}-byte entry")
    if want is not None and shape != tuple(want):
        raise _fail(path, f"array {name} has shape {shape}, this model needs {tuple(want)}")
