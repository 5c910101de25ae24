"""Results show themselves: a picture in Jupyter (IPython's own display formatter), one short line in
a terminal; and examples/tour.ipynb runs under a real kernel and shows pictures."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuroart import outputs
from neuroart.display import DISPLAY_SCALE, Displayed

TOUR = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def _results():
    """One of each result class the API returns, built by hand (no model runs)."""
    from neuroart.dream.dreams import DreamResult
    from neuroart.dream.render import RenderResult
    from neuroart.explain.result import Explanation
    from neuroart.generate.style import Restyled

    rng = np.random.default_rng(0)
    x = rng.random((6, 28, 28), dtype=np.float32)
    labels = np.repeat([3, 7], 3)
    return {
        "dream": DreamResult(x, labels, ["3", "7"], 3, frames=[x, x * 0.5], scores=rng.random(6)),
        "render": RenderResult(x, rng.random(6, dtype=np.float32)),
        "explanation": Explanation(x, x - 0.5, labels, np.full((6, 10), 0.1, np.float32), "integrated", "reader"),
        "restyled": Restyled(x, labels, x[0], 3, model="cvae"),
        "digits": outputs.Digits(x, labels),
        "sheet": outputs.Sheet(x, labels=labels, ncols=3),
    }


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        return im.size


@pytest.mark.parametrize("name", list(_results()))
def test_every_result_shows_as_a_png_in_ipython(name):
    from IPython.core.formatters import DisplayFormatter

    result = _results()[name]
    assert isinstance(result, Displayed)
    data, _ = DisplayFormatter().format(result)
    w, h = _png_size(data["image/png"])
    assert 28 * DISPLAY_SCALE <= w <= 1000 and 28 * DISPLAY_SCALE <= h <= 1000  # small, not a poster
    text = data["text/plain"]
    assert text.startswith(type(result).__name__ + "(") and "\n" not in text and len(text) < 300
    assert "array(" not in text and "0." not in text  # shapes, never the numbers


def test_repr_names_arrays_by_shape_and_skips_defaults():
    text = repr(_results()["dream"])
    assert "images=float32[6, 28, 28]" in text and "frames=[2 items]" in text
    assert "units" not in text and "config" not in text  # still at their defaults
    assert repr(_results()["digits"]) == "Digits(images=float32[6, 28, 28], labels=int64[6])"


def test_an_animated_result_shows_its_gif_inline():
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(_results()["dream"])
    m = re.fullmatch(r'<img src="data:image/gif;base64,([A-Za-z0-9+/=]+)" alt="DreamResult animation">',
                     data["text/html"])
    assert m, data["text/html"][:80]
    with Image.open(io.BytesIO(base64.b64decode(m.group(1)))) as gif:
        assert gif.format == "GIF" and gif.n_frames == 2  # the last frame's hold merges into it
    assert "text/html" not in DisplayFormatter().format(_results()["render"])[0]  # no frames, no GIF


def test_generated_digits_still_unpack_as_a_pair_and_lay_out_by_digit():
    digits = _results()["digits"]
    images, labels = digits
    assert images.shape == (6, 28, 28) and list(labels) == [3, 3, 3, 7, 7, 7]
    sheet = digits.sheet()
    assert sheet.ncols == 3 and sheet.row_labels == ["3", "7"]
    assert outputs.Digits(images, np.full(6, -1)).sheet().row_labels is None


def test_an_empty_result_shows_nothing_rather_than_failing():
    empty = outputs.Digits(np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64))
    assert empty._repr_png_() is None and empty._repr_mimebundle_() == {}


def test_a_picture_sheet_shows_pixel_for_pixel():
    sheet = outputs.Sheet(np.zeros((90, 120), np.float32), picture=True, composite=True)
    png = sheet._repr_png_()
    assert _png_size(png) == (120, 90)
    assert b"compositeWithTrainedAlgorithmicMedia" in png  # the notebook's picture carries the label too


# --------------------------------------------------------------------------- the tour notebook


@pytest.mark.slow
def test_the_tour_notebook_runs_under_a_real_kernel_and_shows_pictures(tmp_path, monkeypatch):
    """examples/tour.ipynb executed by nbclient under an ipykernel started from this venv's Python."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    # a kernel spec of our own, so the kernel is this interpreter (not whatever `python3` is first on a path)
    spec = tmp_path / "jupyter" / "kernels" / "neuroart-venv"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "neuroart (venv)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))

    nb = nbformat.read(TOUR, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    nbclient.NotebookClient(nb, kernel_name="neuroart-venv", timeout=600,
                            resources={"metadata": {"path": str(work)}}).execute()
    shown = [(i, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             for out in cell.get("outputs", []) if out.get("output_type") in ("execute_result", "display_data")]
    pngs = [out["data"]["image/png"] for _, out in shown if "image/png" in out.get("data", {})]
    assert len(pngs) >= 4, [sorted(out.get("data", {})) for _, out in shown]  # dream, flow, restyle, explain
    for png in pngs:
        w, h = _png_size(base64.b64decode(png))
        assert w <= 1000 and h <= 1000
    assert any(out["data"].get("text/html", "").startswith('<img src="data:image/gif;base64,') for _, out in shown)
    assert sum(len(p) for p in pngs) < 400_000  # the notebook stays light
