"""Training checkpoints are untrusted files: anything but a whole checkpoint of this run is one line
naming it (issue 25). Tiny arrays, no TensorFlow, except the two flow-training tests at the end."""

from __future__ import annotations

import io
import json
import resource
import zipfile

import numpy as np
import pytest

from neuroart._util import NeuroartError
from neuroart.generate.checkpoint import load_checkpoint, save_checkpoint

WEIGHTS = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, np.float32), np.array(7, np.int64)]
META = {"epoch": 2, "recipe": {"epochs": 5, "seed": 0}, "data": {"source": "a.npz", "sha256": "abc"}}


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def _rewrite(src, dst, *, drop=(), replace=None, compress=zipfile.ZIP_STORED):
    """A copy of checkpoint `src` with entries dropped or replaced ({name: bytes})."""
    replace = replace or {}
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w", compression=compress) as out:
        for name in z.namelist():
            if name not in drop:
                out.writestr(name, replace.pop(name, None) or z.read(name))
        for name, data in replace.items():
            out.writestr(name, data)
    return dst


@pytest.fixture
def ckpt(tmp_path):
    return save_checkpoint(tmp_path / "run.ckpt.npz", WEIGHTS, META)


def test_a_checkpoint_round_trips(ckpt):
    weights, meta = load_checkpoint(ckpt, {"recipe": META["recipe"], "data": META["data"]},
                                    shapes=[w.shape for w in WEIGHTS])
    assert meta == META
    assert [w.dtype for w in weights] == [w.dtype for w in WEIGHTS]
    for a, b in zip(weights, WEIGHTS, strict=True):
        np.testing.assert_array_equal(a, b)
    with np.load(ckpt, allow_pickle=False) as z:  # numpy's own layout: anyone can look inside
        assert sorted(z.files) == ["meta", "w0", "w1", "w2"]


def test_a_failed_write_keeps_the_previous_checkpoint(ckpt, monkeypatch):
    before = ckpt.read_bytes()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(ckpt, WEIGHTS, {**META, "epoch": 3})
    assert ckpt.read_bytes() == before
    assert sorted(p.name for p in ckpt.parent.iterdir()) == [ckpt.name]


def _pickled(tmp_path, ckpt):
    return _rewrite(ckpt, tmp_path / "p.npz", replace={"w1.npy": _npy(np.array([{"x": 1}, None], dtype=object))})


def _inflating(tmp_path, ckpt, floats: int):
    """w1 claims `floats` float32 zeros, stored deflated: a thousandth of that on disk."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (floats,)})
    path = tmp_path / "inflating.npz"
    with zipfile.ZipFile(ckpt) as z, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in z.namelist():
            if name != "w1.npy":
                out.writestr(name, z.read(name))
        with out.open("w1.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            for _ in range(floats // (1 << 22)):
                f.write(bytes(16 << 20))
    return path


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda tmp, c: tmp.joinpath("t.npz").write_bytes(c.read_bytes()[: len(c.read_bytes()) // 2]) and tmp / "t.npz",
     "not a readable checkpoint"),
    (lambda tmp, c: _rewrite(c, tmp / "nw.npz", drop=("w0.npy", "w1.npy", "w2.npy")), "array w0 is missing"),
    (lambda tmp, c: _rewrite(c, tmp / "m.npz", drop=("meta.npy",)), "no record"),
    (lambda tmp, c: tmp.joinpath("r.npz").write_bytes(np.random.default_rng(0).bytes(5000)) and tmp / "r.npz",
     "not a readable checkpoint"),
    (_pickled, "array w1 holds Python objects"),
    (lambda tmp, c: _rewrite(c, tmp / "s.npz", replace={"w0.npy": _npy(np.zeros((3, 3), np.float32))}),
     "array w0 has shape (3, 3), this model needs (2, 3)"),
    (lambda tmp, c: _rewrite(c, tmp / "x.npz", replace={"evil.npy": _npy(np.zeros(1))}), "should not hold"),
    (lambda tmp, c: _rewrite(c, tmp / "o.npz", replace={"meta.npy": _npy(np.array(json.dumps({"epoch": 1})))}),
     "older or foreign"),
])
def test_a_broken_checkpoint_is_one_line_naming_it(tmp_path, ckpt, make, fragment):
    path = make(tmp_path, ckpt)
    with pytest.raises(NeuroartError) as e:
        load_checkpoint(path, {"recipe": META["recipe"]}, shapes=[w.shape for w in WEIGHTS])
    message = str(e.value)
    assert fragment in message and f"checkpoint {path}" in message and "\n" not in message, message
    assert "allow_pickle" not in message


def test_an_inflating_array_is_refused_before_it_is_read(tmp_path, ckpt):
    """The sizes come from the zip's headers: nothing is inflated (at 64 MiB against a 16 MiB cap
    here, as a 4 GiB array against the default 1 GiB cap)."""
    from neuroart.generate import checkpoint

    assert checkpoint.MAX_BYTES == 1 << 30
    path = _inflating(tmp_path, ckpt, 1 << 24)
    assert path.stat().st_size < 1 << 20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(NeuroartError, match=rf"checkpoint {path}: its arrays would take 64 MiB \(at most 16\)"):
        load_checkpoint(path, {}, max_bytes=16 << 20)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 32 << 10  # not inflated: < 32 MB more
    header = io.BytesIO()  # an entry that lies about its array: 4 GiB claimed in 16 bytes
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 30,)})
    lie = _rewrite(ckpt, tmp_path / "lie.npz", replace={"w1.npy": header.getvalue() + bytes(16)})
    with pytest.raises(NeuroartError, match="array w1 claims 4,294,967,296 bytes in a 144-byte entry"):
        load_checkpoint(lie, {})


def test_another_recipe_or_other_data_is_refused_by_name(ckpt):
    with pytest.raises(NeuroartError, match=r"another recipe \(epochs 5 there, 6 here\)"):
        load_checkpoint(ckpt, {"recipe": {**META["recipe"], "epochs": 6}})
    with pytest.raises(NeuroartError, match=r"another data \(sha256 'abc' there, 'def' here; source 'a.npz' there, "):
        load_checkpoint(ckpt, {"data": {"source": "b.npz", "sha256": "def"}})


# --------------------------------------------------------------------------- the flow's training


@pytest.fixture
def tiny_flow(test_digits):
    from neuroart.generate.flow import FlowConfig, build_flow

    cfg = FlowConfig(channels=(8, 8, 8), embed=16, epochs=1, batch_size=64)

    def fresh():
        import keras

        keras.utils.set_random_seed(0)
        m, e = build_flow(cfg), build_flow(cfg)
        e.set_weights(m.get_weights())
        return m, e

    return cfg, fresh, test_digits[0][:64], test_digits[1][:64]


@pytest.mark.slow
def test_a_flow_checkpoint_resumes_only_on_the_same_data(tmp_path, tiny_flow):
    from neuroart.generate.flow_train import fit_flow

    cfg, fresh, x, y = tiny_flow
    path = tmp_path / "flow.keras.ckpt.npz"
    fit_flow(*fresh(), x, y, cfg=cfg, checkpoint=path, progress=False, source="a.npz")
    _, meta = load_checkpoint(path, {})
    assert meta["data"]["source"] == "a.npz" and meta["epoch"] == 1
    history, _ = fit_flow(*fresh(), x, y, cfg=cfg, checkpoint=path, progress=False, source="copy of a.npz")
    assert len(history) == 1  # the same digits from another copy: resumed (nothing left to do)
    other = x.copy()
    other[0, 0, 0] = 1.0
    with pytest.raises(NeuroartError, match=f"checkpoint {path}: made on other data \\(a.npz, digits [0-9a-f]+; this run: b.npz, digits "):
        fit_flow(*fresh(), other, y, cfg=cfg, checkpoint=path, progress=False, source="b.npz")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(NeuroartError, match=f"checkpoint {path}: not a readable checkpoint"):
        fit_flow(*fresh(), x, y, cfg=cfg, checkpoint=path, progress=False, source="a.npz")


@pytest.mark.slow
def test_a_small_test_split_is_known_before_training(tmp_path, mnist, monkeypatch):
    """64 test digits (one 8 among them): the card says why it has no sample scores instead of
    training and then failing on them; an empty test split is refused before any epoch."""
    from neuroart.generate import flow_train as FT
    from neuroart.generate.flow import FlowConfig

    (xtr, ytr), (xte, yte) = mnist
    assert FT.score_plan(yte[:64], "x") == (None, "the test split has 1 of digit 8; sample scores need 20 of every class")
    assert FT.score_plan(yte[:1000], "x") == (int(np.bincount(yte[:1000]).min()) // 2, None)
    assert FT.score_plan(yte, "x") == (100, None)
    monkeypatch.setattr(FT, "FlowConfig", lambda: FlowConfig(channels=(8, 8, 8), embed=16))
    small = tmp_path / "small.npz"
    np.savez(small, x_train=xtr[:64], y_train=ytr[:64], x_test=xte[:64], y_test=yte[:64])
    _, card = FT.train_flow(data=small, out=tmp_path / "f.keras", epochs=1, batch_size=64, progress=False)
    assert "test_samples" not in card and "1 of digit 8" in card["test_samples_skipped"]
    assert card["eval_images"] == 64 and card["data_source"] == str(small)
    empty = tmp_path / "empty.npz"
    np.savez(empty, x_train=xtr[:64], y_train=ytr[:64], x_test=xte[:0], y_test=yte[:0])
    monkeypatch.setattr(FT, "fit_flow", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(NeuroartError, match="its test split is empty"):
        FT.train_flow(data=empty, out=tmp_path / "g.keras", epochs=1, progress=False)
    assert not (tmp_path / "g.keras").exists() and not (tmp_path / "g.keras.ckpt.npz").exists()
