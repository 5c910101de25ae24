import json
import subprocess
import sys

import numpy as np
import pytest

from neuroart.cli import main


def test_help_and_version_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from neuroart.cli import main\n"
        "r = CliRunner()\n"
        "outs = [r.invoke(main, ['--help']), r.invoke(main, ['--version'])]\n"
        "outs += [r.invoke(main, c.split() + ['--help']) for c in sys.argv[1:]]\n"
        "assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print(outs[1].output)\n"
    )
    commands = _all_commands()
    out = subprocess.run([sys.executable, "-c", code, *commands], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("neuroart, version ")


def _all_commands(group=main, prefix=""):
    import click

    names = []
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            names += _all_commands(cmd, full + " ")
        else:
            names.append(full)
    return names


@pytest.mark.parametrize("command", _all_commands())
def test_every_command_has_an_example(command, runner):
    result = runner.invoke(main, command.split() + ["--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output, f"`neuroart {command} --help` has no Example: block"
    example = result.output.split("Example:", 1)[1]
    assert f"neuroart {command}" in example, f"`neuroart {command} --help`: its example does not run it"


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "neuroart", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "neuroart" in out.stdout


def test_classify_100_real_test_digits_written_as_png(invoke, tmp_path, mnist):
    from PIL import Image

    _, (x, y) = mnist
    paths = []
    for i in range(100):
        p = tmp_path / f"d{i:03d}.png"
        Image.fromarray(x[i]).save(p)
        paths.append(p.name)
    result = invoke("classify", "--json", *paths)
    assert result.exit_code == 0, result.output
    got = [json.loads(line)["digit"] for line in result.output.splitlines()]
    correct = int((np.array(got) == y[:100]).sum())
    assert correct >= 97, correct


def test_classify_hand_made_digit(invoke, digit_png):
    path = digit_png("seven.png", size=(400, 300))
    result = invoke("classify", path, "--top", "3")
    assert result.exit_code == 0, result.output
    assert result.output.split(": ")[1].startswith("7 ("), result.output
    assert result.output.count("%") == 3


def test_bad_images_give_one_clean_line(invoke, tmp_path, digit_png, assert_clean_error, monkeypatch):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("I am not a picture")
    good = digit_png().read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    for name, fragment in [("missing.png", "no such file"), ("empty.png", "empty"),
                           ("text.png", "not an image"), ("cut.png", "truncated")]:
        assert_clean_error(invoke("classify", name), fragment)
    from neuroart import data

    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 1000)
    assert_clean_error(invoke("classify", digit_png()), "too large")


def test_unknown_and_corrupted_models(invoke, tmp_path, digit_png, assert_clean_error):
    assert_clean_error(invoke("classify", digit_png(), "--model", "resnet"), "unknown model")
    (tmp_path / "bad.keras").write_bytes(b"garbage")
    assert_clean_error(invoke("evaluate", "--model", "bad.keras"), "bad.keras")


def test_train_with_bad_data_writes_nothing(invoke, tmp_path, assert_clean_error, files_in):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((5, 10, 10), np.uint8), y_train=np.zeros(5, int),
             x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5, int))
    before = files_in(tmp_path)
    assert_clean_error(invoke("train", "classifier", "--data", "bad.npz", "--out", "m.keras"), "shape")
    assert files_in(tmp_path) == before


@pytest.mark.slow
def test_train_classifier_cli_one_epoch(invoke, tmp_path):
    result = invoke("train", "classifier", "--epochs", "1", "--data", "offline", "--out", "one.keras", "--seed", "1")
    assert result.exit_code == 0, result.output
    acc = float(result.output.split("test accuracy: ")[1].split("%")[0])
    assert acc > 95.0
    assert (tmp_path / "one.keras").is_file() and (tmp_path / "one.json").is_file()


def test_evaluate_and_info(invoke):
    result = invoke("evaluate", "--model", "mlp", "--data", "offline", "--json")
    assert result.exit_code == 0
    scores = json.loads(result.output)
    assert scores["accuracy"] >= 0.977 and len(scores["per_digit"]) == 10
    result = invoke("info")
    assert result.exit_code == 0 and "mlp" in result.output and "cnn" in result.output
    assert "offline" in result.output
