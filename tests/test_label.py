"""The honest label: every PNG and GIF neuroart writes says, in XMP with the IPTC Digital Source Type,
that a trained model made it, read back by a real reader (exiftool) and by `neuroart info`."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from neuroart import imaging, outputs
from neuroart._util import NeuroartError

MADE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool missing (Debian libimage-exiftool-perl; .ci/run installs it)")


def exiftool(*paths) -> dict:
    """exiftool's XMP of each file, by file name."""
    out = subprocess.run(["exiftool", "-XMP:all", "-j", *map(str, paths)], capture_output=True, text=True, check=True)
    return {row["SourceFile"].rsplit("/", 1)[-1]: row for row in json.loads(out.stdout)}


def _frames(n=3):
    rng = np.random.default_rng(0)
    return [imaging.make_grid(rng.random((4, 28, 28), dtype=np.float32), scale=1) for _ in range(n)]


@needs_exiftool
def test_exiftool_reads_the_label_of_a_png_and_a_gif(tmp_path):
    frames = _frames()
    outputs.write_png(frames[0], tmp_path / "made.png", recipe={"seed": 1})
    outputs.save_gif(frames, tmp_path / "made.gif")
    outputs.save_image(np.zeros((28, 28), np.float32), tmp_path / "yours.png", composite=True)
    outputs.save_gif(frames, tmp_path / "yours.gif", composite=True)
    xmp = exiftool(*sorted(tmp_path.iterdir()))
    assert xmp["made.png"]["DigitalSourceType"] == MADE and xmp["made.gif"]["DigitalSourceType"] == MADE
    assert xmp["yours.png"]["DigitalSourceType"] == COMPOSITE and xmp["yours.gif"]["DigitalSourceType"] == COMPOSITE
    assert all(row["CreatorTool"] == f"neuroart {outputs.__version__}" for row in xmp.values())


@needs_exiftool
def test_exiftool_validates_the_files(tmp_path):
    """exiftool's own check of the structure (the GIF extension's magic trailer, the PNG chunk)."""
    outputs.write_png(_frames(1)[0], tmp_path / "a.png")
    outputs.save_gif(_frames(), tmp_path / "a.gif")
    out = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-j", str(tmp_path / "a.png"),
                          str(tmp_path / "a.gif")], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [row["Validate"] for row in rows] == ["OK", "OK"], rows


def test_the_gif_still_decodes_frame_for_frame():
    """The XMP extension is skipped by an ordinary GIF decoder (Pillow): same frames, same loop."""
    frames = _frames(4)
    gif = imaging.encode_gif(frames, duration_ms=50)
    assert b"XMP DataXMP" in gif
    import io

    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 4 and im.info.get("loop") == 0
        for i, want in enumerate(frames):
            im.seek(i)
            assert np.array_equal(np.asarray(im.convert("RGB")), want)


def test_the_label_has_no_timestamp_so_bytes_stay_the_same():
    rgb = _frames(1)[0]
    assert imaging.encode_png(rgb) == imaging.encode_png(rgb)
    assert imaging.encode_gif(_frames()) == imaging.encode_gif(_frames())
    packet = imaging.xmp_packet()
    assert b"\x00" not in packet and b"Date" not in packet and b"InstanceID" not in packet


def test_read_label_and_its_errors(tmp_path):
    outputs.write_png(_frames(1)[0], tmp_path / "a.png")
    assert outputs.read_label(tmp_path / "a.png") == {"source_type": MADE, "tool": f"neuroart {outputs.__version__}"}
    outputs.save_gif(_frames(), tmp_path / "b.gif", composite=True)
    assert outputs.read_label(tmp_path / "b.gif")["source_type"] == COMPOSITE
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")  # a PNG neuroart did not write
    assert outputs.read_label(tmp_path / "plain.png") is None
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(NeuroartError, match="not a PNG or GIF"):
        outputs.read_label(tmp_path / "text.png")
    with pytest.raises(NeuroartError, match="no such file"):
        outputs.read_label(tmp_path / "missing.png")


def test_a_sheets_files_carry_its_label(tmp_path):
    frames = [np.full((2, 28, 28), v, np.float32) for v in (0.2, 0.8)]
    sheet = outputs.Sheet(np.zeros((2, 28, 28), np.float32), frames=frames, composite=True)
    outputs.save(sheet, out=tmp_path / "s.png", gif=tmp_path / "s.gif")
    assert outputs.read_label(tmp_path / "s.png")["source_type"] == COMPOSITE
    assert outputs.read_label(tmp_path / "s.gif")["source_type"] == COMPOSITE
    outputs.save(outputs.Sheet(np.zeros((2, 28, 28), np.float32)), out=tmp_path / "t.png")
    assert outputs.read_label(tmp_path / "t.png")["source_type"] == MADE


@pytest.mark.slow
@needs_exiftool
def test_real_commands_write_labelled_pictures(invoke, tmp_path, mnist):
    """generate (made from noise), morph (from two real digits) and dream --start FILE (your digit):
    exiftool reads each one's source type; `neuroart info` prints it."""
    (x, _), _ = mnist
    Image.fromarray(x[0]).save(tmp_path / "mine.png")
    assert invoke("generate", "3", "--per-digit", "2", "--out", "gen.png").exit_code == 0
    assert invoke("morph", "3", "8", "--frames", "3", "--out", "morph.png", "--gif", "morph.gif").exit_code == 0
    dream = invoke("dream", "8", "--per-digit", "1", "--steps", "3", "--prior", "none", "--start", "mine.png",
                   "--out", "into.png", "--gif", "into.gif")
    assert dream.exit_code == 0, dream.output
    xmp = exiftool(*(tmp_path / f for f in ("gen.png", "morph.png", "morph.gif", "into.png", "into.gif")))
    assert {f: row["DigitalSourceType"] for f, row in xmp.items()} == {
        "gen.png": MADE, "morph.png": COMPOSITE, "morph.gif": COMPOSITE, "into.png": COMPOSITE, "into.gif": COMPOSITE}
    info = invoke("info", "gen.png")
    assert info.exit_code == 0
    assert "made by a trained model" in info.output and MADE in info.output
    assert "recipe: neuroart generate 3 --per-digit 2 --out gen.png" in info.output
    assert COMPOSITE in invoke("info", "morph.gif").output


def test_info_of_a_missing_file_is_one_line(invoke):
    result = invoke("info", "nothing.png")
    assert result.exit_code != 0 and result.stderr.strip().splitlines() == ["Error: nothing.png: no such file"]
