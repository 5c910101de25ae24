"""A synthetic labelled digit set from a class-conditional generator, as numbered npz shards.

``make_dataset("synth/", n=100_000)`` writes::

    synth/digits-00000.npz   images (S, 28, 28) uint8 (or float32 in [0, 1]), labels (S,) int64
    synth/digits-00000.json  what that file holds: count, counts per class, sha256
    ...                      (and digits-00000.tfrecord with --tfrecord: one tf.train.Example
                              per digit, ``image`` 784 raw bytes, ``label`` int64)
    synth/manifest.json      seed, model and its hash, options, counts per class, sha256 per file

How it stays reproducible and resumable:

- file k holds digits ``k*S .. k*S+S-1`` of the whole set; digit j has class
  ``digits[j % len(digits)]`` (so the classes are balanced), and file k's latent codes are
  drawn from its own seed (`file_seed`). A file's bytes depend only on the options and k --
  not on which process makes it, nor on what was made before -- so ``--shard I/N`` (files
  split among N processes or machines) gives the same files as one process, byte for byte;
- every file is written to a temporary file and renamed into place, then its ``.json`` record
  (sha256 of the finished npz) the same way. A rerun skips a file whose record matches its
  sha256 and redoes anything else; an interrupted run leaves no partial file under a final name;
- one file at a time is in memory (decoded in batches of `BATCH`): memory is flat in `n`;
- ``manifest.json`` is written (atomically) by whichever process finds every file finished; it
  holds no timestamps, so it is the same whoever writes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .._util import NeuroartError, atomic_path, check_digits
from .._util import progress as _progress
from .._version import __version__
from .config import DEFAULT_MODEL, SHARPNESS, TRUNCATION

FORMAT = "neuroart-digits/1"
BATCH = 1000  # digits decoded per call (the progress bar moves once per batch)
MAX_DIGITS = 100_000_000
MAX_SHARD_SIZE = 100_000
DTYPES = ("uint8", "float32")


def file_name(k: int, suffix: str = ".npz") -> str:
    return f"digits-{k:05d}{suffix}"


def file_seed(seed: int, k: int) -> int:
    """File k's own seed: 32 bits of NumPy's SeedSequence((seed, k)) -- independent streams per file."""
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def plan(n: int, shard_size: int) -> list[tuple[int, int]]:
    """``(start, count)`` of every file of a set of `n` digits, `shard_size` per file."""
    return [(s, min(shard_size, n - s)) for s in range(0, n, shard_size)]


def _check(n, shard_size, dtype, digits, temperature):
    n, shard_size = int(n), int(shard_size)
    if not 1 <= n <= MAX_DIGITS:
        raise NeuroartError(f"the number of digits must be between 1 and {MAX_DIGITS:,}, got {n}")
    if not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise NeuroartError(f"shard size must be between 1 and {MAX_SHARD_SIZE:,}, got {shard_size}")
    if dtype not in DTYPES:
        raise NeuroartError(f"dtype must be uint8 or float32, got {dtype!r}")
    ds = list(range(10)) if digits is None or len(digits) == 0 else check_digits(digits)
    if len(set(ds)) != len(ds):
        raise NeuroartError("each digit once, please (the classes are balanced)")
    t = float(temperature)
    if not np.isfinite(t) or not 0 <= t <= 10:
        raise NeuroartError(f"temperature must be between 0 and 10, got {temperature}")
    return n, shard_size, ds


def make_dataset(out, *, n: int = 10_000, shard_size: int = 10_000, digits=None, model=DEFAULT_MODEL,
                 seed: int = 0, temperature: float = 1.0, truncation: float = TRUNCATION,
                 sharpness: float = SHARPNESS, dtype: str = "uint8", tfrecord: bool = False,
                 shard=None, progress: bool = False) -> dict:
    """Write (or finish) a synthetic labelled digit set in folder `out`; returns a summary.

    `n` digits in files of `shard_size`; `digits` the classes (all ten by default, balanced);
    `model` a conditional generator (the bundled cvae, or a .keras cvae); `temperature`,
    `truncation`, `sharpness` as in `neuroart.generate.generate`; `dtype` of the stored images;
    `tfrecord` also writes each file as TFRecord. `shard` ``(i, n)`` or ``"i/n"`` makes only
    this process's part of the files (`neuroart.distribute.job_rows`: a file is a row of the job).
    The summary: ``files`` (this process's), ``made``, ``skipped``, ``digits`` made now,
    ``complete`` (every file of the set is finished) and ``manifest`` (its path, when complete).
    """
    from ..distribute import check_shard, job_rows
    from ..models import model_stamp
    from .sample import _check_temperature, _generator

    shard = check_shard(shard)
    n, shard_size, ds = _check(n, shard_size, dtype, digits, temperature)
    _check_temperature(temperature)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NeuroartError(f"{out}: is a file, not a folder")
    if not out.parent.is_dir():
        raise NeuroartError(f"folder does not exist: {out.parent}")
    g = _generator(model)
    if not g.conditional:
        raise NeuroartError(f"a labelled digit set needs a class-conditional generator (cvae), not the {g.kind}")
    stamp = model_stamp(model)
    options = {"n": n, "shard_size": shard_size, "digits": ds, "seed": int(seed), "temperature": float(temperature),
               "truncation": float(truncation), "sharpness": float(sharpness), "dtype": dtype,
               "tfrecord": bool(tfrecord), **stamp}
    files = plan(n, shard_size)
    mine = job_rows(len(files), shard)
    out.mkdir(exist_ok=True)
    _check_same_set(out, options)

    todo, skipped = [], 0
    for k in mine:  # an interrupted run's temporary files (only this shard's: others may be writing)
        for stale in out.glob(f".{file_name(k, '')}.*"):
            stale.unlink(missing_ok=True)
    for k in mine:
        if _finished(out, k, options):
            skipped += 1
        else:
            todo.append(k)
    made_digits = 0
    with _progress(length=sum(files[k][1] for k in todo), label="writing digits", show=progress and bool(todo)) as bar:
        for k in todo:
            start, count = files[k]
            made_digits += _make_file(out, k, start, count, g, ds, options, bar)
    summary = {"folder": str(out), "files": len(mine), "made": len(todo), "skipped": skipped,
               "digits": made_digits, "total_files": len(files), "complete": False, "manifest": None}
    manifest = _write_manifest_if_complete(out, files, options)
    if manifest is not None:
        summary.update(complete=True, manifest=str(manifest))
    return summary


def _record_path(out: Path, k: int) -> Path:
    return out / file_name(k, ".json")


def _read_record(out: Path, k: int) -> dict | None:
    try:
        return json.loads(_record_path(out, k).read_text())
    except (OSError, ValueError):
        return None


def _check_same_set(out: Path, options: dict) -> None:
    """Refuse to mix two different sets in one folder (another seed, size, model, ...)."""
    for p in sorted(out.glob("digits-*.json"))[:1] + [out / "manifest.json"]:
        try:
            old = json.loads(p.read_text()).get("options")
        except (OSError, ValueError, AttributeError):
            continue
        if old is not None and old != options:
            diff = sorted(key for key in set(old) | set(options) if old.get(key) != options.get(key))
            raise NeuroartError(f"{out} holds another digit set (different {', '.join(diff)}); "
                                "use a new folder or the same options")


def _finished(out: Path, k: int, options: dict) -> bool:
    """File k is finished: its record matches these options and the sha256 of the files on disk."""
    from ..models import file_sha256

    rec = _read_record(out, k)
    if not rec or rec.get("options") != options:
        return False
    for key, suffix in (("sha256", ".npz"), ("tfrecord_sha256", ".tfrecord")):
        want = rec.get(key)
        if suffix == ".tfrecord" and not options["tfrecord"]:
            continue
        path = out / file_name(k, suffix)
        if not want or not path.is_file() or file_sha256(path) != want:
            return False
    return True


def _make_file(out: Path, k: int, start: int, count: int, g, ds: list[int], options: dict, bar) -> int:
    """Decode file k's digits and write its npz (+ tfrecord), then its record; all atomic."""
    from ..imaging import encode_npz, to_uint8
    from ..models import file_sha256

    labels = np.asarray(ds, np.int64)[np.arange(start, start + count) % len(ds)]
    z = g.prior(labels=labels, temperature=options["temperature"], truncation=options["truncation"],
                seed=file_seed(options["seed"], k))
    images = np.empty((count, 28, 28), np.uint8 if options["dtype"] == "uint8" else np.float32)
    for a in range(0, count, BATCH):
        x = g.decode(z[a : a + BATCH], labels[a : a + BATCH], sharpness=options["sharpness"])
        images[a : a + BATCH] = to_uint8(x) if options["dtype"] == "uint8" else x
        bar.update(len(x))
    rec = {"format": FORMAT, "file": file_name(k), "index": k, "start": start, "count": count,
           "counts": {str(d): int((labels == d).sum()) for d in ds}, "options": options}
    npz = out / file_name(k)
    with atomic_path(npz) as tmp, open(tmp, "wb") as f:
        encode_npz({"images": images, "labels": labels}, f)
    rec["sha256"] = file_sha256(npz)
    if options["tfrecord"]:
        tfr = out / file_name(k, ".tfrecord")
        with atomic_path(tfr) as tmp:
            _write_tfrecord(tmp, to_uint8(images) if images.dtype != np.uint8 else images, labels)
        rec["tfrecord"] = tfr.name
        rec["tfrecord_sha256"] = file_sha256(tfr)
    with atomic_path(_record_path(out, k)) as tmp:
        tmp.write_text(json.dumps(rec, indent=1) + "\n")
    return count


def _write_tfrecord(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One `tf.train.Example` per digit: ``image`` (784 raw uint8 bytes) and ``label`` (int64)."""
    from .._util import tf

    t = tf()
    feat = t.train
    with t.io.TFRecordWriter(str(path)) as w:
        for img, lab in zip(images, labels, strict=True):
            ex = feat.Example(features=feat.Features(feature={
                "image": feat.Feature(bytes_list=feat.BytesList(value=[img.tobytes()])),
                "label": feat.Feature(int64_list=feat.Int64List(value=[int(lab)])),
            }))
            w.write(ex.SerializeToString())


def read_tfrecord(path):
    """A `tf.data.Dataset` of ``(image (28, 28) float32 in [0, 1], label)`` from a dataset TFRecord."""
    from .._util import tf

    t = tf()
    spec = {"image": t.io.FixedLenFeature([], t.string), "label": t.io.FixedLenFeature([], t.int64)}

    def parse(raw):
        ex = t.io.parse_single_example(raw, spec)
        img = t.reshape(t.io.decode_raw(ex["image"], t.uint8), (28, 28))
        return t.cast(img, t.float32) / 255.0, ex["label"]

    return t.data.TFRecordDataset([str(p) for p in ([path] if isinstance(path, (str, os.PathLike)) else path)]).map(parse)


def _write_manifest_if_complete(out: Path, files, options: dict) -> Path | None:
    """When every file has its record, write manifest.json (the same bytes whoever writes it)."""
    records = []
    for k in range(len(files)):
        rec = _read_record(out, k)
        if not rec or rec.get("options") != options or "sha256" not in rec:
            return None
        records.append(rec)
    counts = {str(d): sum(r["counts"].get(str(d), 0) for r in records) for d in options["digits"]}
    entries = []
    for r in records:
        e = {"file": r["file"], "count": r["count"], "sha256": r["sha256"], "counts": r["counts"]}
        if "tfrecord" in r:
            e.update(tfrecord=r["tfrecord"], tfrecord_sha256=r["tfrecord_sha256"])
        entries.append(e)
    manifest = {
        "format": FORMAT,
        "digits": options["n"],
        "counts": counts,
        "seed": options["seed"],
        "models": {options["model"]: options["model_sha256"]},
        "options": options,
        "files": entries,
        "arrays": {"images": f"{options['dtype']} (N, 28, 28)" + (" in [0, 1]" if options["dtype"] == "float32" else " 0-255"),
                   "labels": "int64 (N,)"},
        "recipe": ("file k: classes digits[j % len(digits)] for its digits j; latent codes drawn "
                   f"with seed file_seed(seed, k) = SeedSequence([seed, k]).generate_state(1)[0]; "
                   f"decoded in batches of {BATCH}"),
        "version": __version__,
    }
    path = out / "manifest.json"
    text = json.dumps(manifest, indent=1) + "\n"
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def load_dataset(folder) -> tuple[np.ndarray, np.ndarray]:
    """All images and labels of a finished set (checked against its manifest), concatenated."""
    from ..models import file_sha256

    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except OSError:
        raise NeuroartError(f"{folder}: no manifest.json (an unfinished or missing digit set)") from None
    except ValueError as e:
        raise NeuroartError(f"{folder}/manifest.json: not JSON ({e})") from None
    xs, ys = [], []
    for e in manifest["files"]:
        p = folder / e["file"]
        if not p.is_file() or file_sha256(p) != e["sha256"]:
            raise NeuroartError(f"{p}: missing or changed since the manifest was written")
        with np.load(p, allow_pickle=False) as z:
            xs.append(z["images"])
            ys.append(z["labels"])
    return np.concatenate(xs), np.concatenate(ys)
