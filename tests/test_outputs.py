"""`neuroart.outputs`: every file neuroart writes -- atomic, all or nothing, checked -- and the
grid and GIF options it passes to `neuroart.imaging` (issue 9, issue 19)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from neuroart._util import NeuroartError


def test_atomic_write_leaves_no_temp_file(tmp_path):
    from neuroart.outputs import save_grid

    save_grid(np.zeros((2, 28, 28)), tmp_path / "a.png")
    assert os.listdir(tmp_path) == ["a.png"]


def test_a_write_that_fails_after_the_work_names_its_own_path(tmp_path, monkeypatch):
    """The npz's folder turns unwritable after the checks: the message names the npz, not the PNG."""
    from neuroart import _util, outputs

    real = _util.temp_beside

    def no_npz(path, suffix):
        if str(path).endswith(".npz"):
            raise OSError(13, "Permission denied")
        return real(path, suffix)

    monkeypatch.setattr(_util, "temp_beside", no_npz)
    sheet = outputs.Sheet(np.zeros((2, 28, 28), np.float32), labels=np.array([1, 2]))
    with pytest.raises(NeuroartError, match=r"^cannot write .*x\.npz: Permission denied$"):
        outputs.save(sheet, out=tmp_path / "ok.png", npz=tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_grid_refuses_a_ragged_list(tmp_path):
    from neuroart.imaging import make_grid
    from neuroart.outputs import save_grid

    ragged = [np.zeros((28, 28)), np.zeros((14, 14))]
    with pytest.raises(NeuroartError, match=r"images must all have the same shape \(got \(14, 14\), \(28, 28\)\)"):
        save_grid(ragged, tmp_path / "g.png")
    with pytest.raises(NeuroartError, match="same shape"):
        make_grid([np.zeros((28, 28)), np.zeros((28,))])
    with pytest.raises(NeuroartError, match="numbers"):
        make_grid(np.array([["a", "b"]]))
    assert os.listdir(tmp_path) == []


def test_save_grid_reads_integer_pixels_as_bytes(tmp_path):
    from PIL import Image

    from neuroart.imaging import make_grid
    from neuroart.outputs import save_grid, save_image

    ints = np.full((1, 4, 4), 128, np.int64)
    floats = np.full((1, 4, 4), 128 / 255, np.float32)
    bytes_ = np.full((1, 4, 4), 128, np.uint8)
    a, b, c = (make_grid(x, scale=1, pad=0) for x in (ints, floats, bytes_))
    assert (a == 128).all() and (a == b).all() and (a == c).all()  # ink 128 stays mid-grey
    save_grid([[[0, 255], [128, 64]]], tmp_path / "list.png", scale=1, pad=0)
    assert np.asarray(Image.open(tmp_path / "list.png"))[..., 0].tolist() == [[0, 255], [128, 64]]
    save_image(np.full((3, 3), 200, np.int32), tmp_path / "one.png")
    assert (np.asarray(Image.open(tmp_path / "one.png")) == 200).all()
    assert (make_grid(np.ones((1, 2, 2), bool), scale=1, pad=0) == 255).all()  # booleans are 0/1
    for bad in (np.full((1, 4, 4), 300), np.full((1, 4, 4), -1)):
        with pytest.raises(NeuroartError, match="integer pixels must be bytes 0-255"):
            save_grid(bad, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_grid_and_gif_options_are_checked(tmp_path):
    from neuroart.imaging import make_grid
    from neuroart.outputs import save_gif

    x = np.zeros((4, 28, 28), np.float32)
    for kwargs, message in ((dict(pad=math.inf), "pad must be an integer"), (dict(pad=-1), "pad must be an integer"),
                            (dict(ncols=math.nan), "ncols must be an integer >= 1"),
                            (dict(ncols=-2), "ncols must be an integer >= 1")):
        with pytest.raises(NeuroartError, match=message):
            make_grid(x, **kwargs)
    assert make_grid(x, ncols=0, scale=1, pad=0).shape == (56, 56, 3)  # 0 or None: a square grid
    with pytest.raises(NeuroartError, match="duration_ms must be an integer >= 1"):
        save_gif(list(x), tmp_path / "a.gif", duration_ms=math.nan)
    assert os.listdir(tmp_path) == []
