"""The first hour of a new user (issue 25): mistakes fail before TensorFlow loads, in a fraction of
its import time; long commands say how far they got; odd messages say what they mean."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from neuroart import _util
from neuroart.cli import checks

# (arguments, a fragment of the one error line). notes.png is a text file, as a user's notes would be.
MISTAKES = [
    (["generate", "--temperature", "-1"], "--temperature must be a finite number >= 0"),
    (["generate", "--per-digit", "501"], "a grid of 5,010 digits is too large to draw (at most 5,000)"),
    (["morph", "3", "8", "--frames", "1"], "--frames must be an integer >= 2"),
    (["latent-map", "--size", "1000"], "--size must be an integer >= 2 and <= 60"),
    (["dream", "--prior", "cnn"], "--prior cnn is a digit classifier, not a prior; priors: auto, none, vae, flow"),
    (["dream", "--prior", "flow", "--steps", "100000"], "--steps must be a positive integer (at most 1000)"),
    (["dream", "9", "--prior", "flow", "--start", "notes.png"], "notes.png: not an image Pillow can read"),
    (["morph", "3", "notes.png"], "notes.png: not an image Pillow can read"),
    (["explain", "notes.png"], "notes.png: not an image Pillow can read"),
    (["restyle", "notes.png"], "notes.png: not an image Pillow can read"),
    (["classify", "notes.png"], "notes.png: not an image Pillow can read"),  # the check the others now share
    (["dream", "--per-digit", "1000"], "a grid of 10,000 dreams is too large to draw (at most 5,000)"),
    (["dream", "3", "--per-digit", "501", "--objective", "class"], None),  # 501 dreams: not refused here
    (["dream", "--prior", "flwo"], "unknown --prior 'flwo': did you mean 'flow'?"),
    (["dream", "--prior", "vea"], "did you mean 'vae'?"),
    (["dream", "--seed", "abc"], "'abc' is not a valid integer."),
    (["dream", "-1"], "not a digit: -1 (digits are 0-9)"),
    (["morph", "-3", "8"], "not a digit: -3 (digits are 0-9)"),
]

_RUN = """
import json, sys, time
from click.testing import CliRunner
from neuroart.cli import main
out = []
for args in json.loads(sys.argv[1]):
    before = 'tensorflow' in sys.modules
    start = time.perf_counter()
    r = CliRunner().invoke(main, args + ['--out', 'never.png'] if args[0] in ('dream', 'generate', 'morph') else args)
    out.append([r.exit_code, r.output.strip(), time.perf_counter() - start, before, 'tensorflow' in sys.modules])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    """Every mistake run in turn in one fresh process (CliRunner), then `python -c "import tensorflow"`."""
    folder = tmp_path_factory.mktemp("first-hour")
    (folder / "notes.png").write_text("shopping: milk, eggs\n")
    # `dream 3 --per-digit 501` would start work: --steps 0 makes the library refuse it, still before TensorFlow
    args = [a + ["--steps", "0"] if a[:2] == ["dream", "3"] else a for a, _ in MISTAKES]
    run = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], cwd=folder, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, timeout=300, check=True)
    return results, time.perf_counter() - start, sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("i", range(len(MISTAKES)), ids=[" ".join(a) for a, _ in MISTAKES])
def test_a_mistake_fails_before_tensorflow_loads(mistakes, i):
    results, tf_seconds, files = mistakes
    (args, fragment), (code, output, seconds, loaded_before, loaded_after) = MISTAKES[i], results[i]
    assert not loaded_before, "an earlier mistake loaded TensorFlow: this one cannot be judged"
    assert not loaded_after, f"neuroart {' '.join(args)} loaded TensorFlow"
    assert code == 1 and output.startswith("Error:") and len(output.splitlines()) == 1, output
    if fragment is None:
        assert "too large" not in output, output
    else:
        assert fragment in output, output
    assert seconds < tf_seconds / 2, (seconds, tf_seconds)
    assert files == ["notes.png"]  # nothing written


def test_the_grid_limit_is_generates():
    from neuroart.generate.sample import MAX_GRID

    checks.grid(MAX_GRID)
    with pytest.raises(_util.NeuroartError, match=f"at most {MAX_GRID:,}"):
        checks.grid(MAX_GRID + 1)


def test_prior_names_are_the_librarys():
    from neuroart.dream import priors

    names = checks._prior_names()
    assert names[:2] == ["auto", "none"] and priors.FLOW in names
    assert "cnn" not in names and "mlp" not in names and "cvae" not in names  # models that are not priors
    assert all(priors.resolve_prior(n) != "custom" for n in names)


# --------------------------------------------------------------------------- progress


class _Log(io.StringIO):
    """stderr redirected to a file: not a terminal."""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_off_a_terminal_writes_a_line_per_item_of_a_short_job(monkeypatch):
    log = _Log()
    monkeypatch.setattr(sys, "stderr", log)
    names = [f"corruption {i}" for i in range(15)]
    with _util.progress(names, label="corruptions") as bar:
        assert list(bar) == names
    lines = log.getvalue().splitlines()
    assert lines[0] == "corruptions: 15 to do"
    assert len(lines) == 16 and all(f"corruptions: {i}/15 " in lines[i] for i in range(1, 16)), lines
    assert "corruption 14" in lines[-1] and "(100%)" in lines[-1]


def test_progress_off_a_terminal_writes_a_line_per_tenth_of_a_long_job(monkeypatch):
    log = _Log()
    monkeypatch.setattr(sys, "stderr", log)
    with _util.progress(length=1000, label="dreaming") as bar:
        for _ in range(1000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 11, lines  # the start, then 10%, 20%, ... 100%
    assert [line.split()[1] for line in lines[1:]] == [f"{k}/1000" for k in range(100, 1001, 100)]


def test_progress_that_ends_short_says_where(monkeypatch):
    log = _Log()
    monkeypatch.setattr(sys, "stderr", log)
    with _util.progress(length=200, label="generating") as bar:
        bar.update(150)
    assert log.getvalue().splitlines()[-1].startswith("generating: 150/200 done in ")
    log.truncate(0), log.seek(0)
    with pytest.raises(KeyboardInterrupt), _util.progress(length=200, label="generating") as bar:
        bar.update(50)
        raise KeyboardInterrupt  # an error says the rest: no "done" line
    assert "done" not in log.getvalue()


def test_the_spinner_shows_on_a_terminal_after_its_delay_and_is_wiped():
    term = _Terminal()
    with _util.working("reading 1 image", delay=0.05, file=term):
        time.sleep(0.4)
    text = term.getvalue()
    assert text.startswith("\rreading 1 image ") and text.endswith("\r\x1b[K"), repr(text)
    assert text.count("\r") >= 3  # it turned
    quick = _Terminal()
    with _util.working("reading", delay=5, file=quick):
        pass
    assert quick.getvalue() == ""  # a quick command shows nothing
    log = _Log()
    with _util.working("reading", delay=0, file=log):
        time.sleep(0.2)
    assert log.getvalue() == ""  # a log gets progress lines, not an animation


def test_the_spinner_gives_way_to_a_progress_bar(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", _Log())
    with _util.working("loading the models", delay=0.01, file=term):
        time.sleep(0.2)
        with _util.progress(length=3, label="dreaming") as bar:
            bar.update(3)
        shown = term.getvalue()
        time.sleep(0.3)
        assert term.getvalue() == shown  # stopped when the bar began
    assert shown.endswith("\r\x1b[K")


@pytest.mark.slow
def test_classify_on_a_terminal_shows_a_spinner_while_tensorflow_loads(tmp_path, digit_png):
    import os
    import pty

    path = digit_png()
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "neuroart", "classify", str(path)], stdin=slave, stdout=slave,
                            stderr=slave, cwd=tmp_path)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=300) == 0
    text = out.decode()
    assert "\rreading 1 image " in text, text[:500]
    assert f"\r\x1b[K{path}: 7 (" in text, text[-300:]  # wiped before the answer


# --------------------------------------------------------------------------- a start image, many copies


def test_copies_of_a_start_image_differ_and_the_first_is_the_image(tmp_path, digit_png):
    from neuroart.data import load_digit_image
    from neuroart.dream.starts import start_images

    path = digit_png()
    copies = start_images(str(path), 4, seed=0, warp=1.0)
    np.testing.assert_array_equal(copies[0], load_digit_image(path))
    gaps = [np.abs(copies[i] - copies[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) > 0.02, gaps
    np.testing.assert_array_equal(start_images(str(path), 4, seed=0, warp=1.0), copies)  # seeded
    same = start_images(str(path), 3, seed=0, warp=0.0)
    assert np.array_equal(same[0], same[2])  # warp 0: the old behaviour, every copy the image


def _spread(images):
    n = len(images)
    return float(np.mean([np.abs(images[i] - images[j]).mean() for i in range(n) for j in range(i + 1, n)]))


def test_dream_from_one_image_makes_copies_that_differ(digit_png):
    from neuroart.dream import dream

    path = str(digit_png())
    varied = dream([8], per_digit=4, start=path, prior="none", steps=20, seed=0).images
    alike = dream([8], per_digit=4, start=path, prior="none", steps=20, seed=0, warp=0.0).images
    assert _spread(varied) > 1.5 * _spread(alike), (_spread(varied), _spread(alike))


@pytest.mark.slow
def test_dream_through_the_flow_from_one_image_makes_copies_that_differ(digit_png):
    from neuroart.dream import dream

    images = dream([8], per_digit=3, start=str(digit_png()), prior="flow", seed=0).images
    assert _spread(images) > 0.03, _spread(images)  # each copy is noised back on its own


# --------------------------------------------------------------------------- info


def test_info_shows_the_flows_sample_scores(invoke):
    result = invoke("info")
    assert result.exit_code == 0, result.output
    flow = next(line for line in result.output.splitlines() if line.split()[:2] == ["flow", "flow"])
    assert "samples: judge " in flow and "x the floor" in flow, flow


@pytest.mark.parametrize("card, shown", [
    ({"test_samples": {"judge_agreement": 0.985, "fid_over_floor": 1.066, "n": 1000, "steps": 20}},
     "samples: judge 98.5%, FID 1.07x the floor (n = 1,000, 20 steps)"),
    ({"test_samples": {"judge_agreement": 0.9}}, "samples: judge 90.0%"),
    ({"test_samples": "not a table", "test_flow_loss": 0.15}, "test flow loss 0.15"),
    ({"test_samples": {"fid": None}}, "no test score"),
    ({}, "no test score"),
    ({"test_elbo": -97.95}, "test elbo -97.95"),
])
def test_info_score_of_any_card(card, shown):
    from neuroart.cli.core import _gen_score

    assert _gen_score(card) == shown


def test_readme_keeps_two_commands_and_tells_the_fast_tier_and_the_browser():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert section.count("```bash") == 2  # install + run, and the tests: nothing else in a block
    assert '.venv/bin/python -m pytest -m "not slow"' in section
    assert "apt-get install chromium" in section and "minutes" in section
