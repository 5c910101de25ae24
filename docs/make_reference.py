"""Write docs/cli.md and docs/api.md from the commands' --help and the API's docstrings.

    python docs/make_reference.py

tests/test_docs.py fails when either file is missing something or out of date.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

HERE = Path(__file__).resolve().parent


def commands(group, prefix=()):
    for name in sorted(group.commands):
        cmd = group.commands[name]
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))


def render_cli() -> str:
    from neuroart.cli import main

    runner = CliRunner()
    parts = [
        "# neuroart CLI reference\n",
        "Generated from each command's `--help` by `python docs/make_reference.py`;",
        "`tests/test_docs.py` fails when a command is missing or out of date.\n",
    ]
    for path in [(), *commands(main)]:
        result = runner.invoke(main, [*path, "--help"], prog_name="neuroart", terminal_width=100)
        title = " ".join(("neuroart", *path))
        parts.append(f"## {title}\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


GROUPS = {
    "Data": ["load_mnist", "to_float", "load_digit_image", "load_picture", "mnist_style"],
    "Images": ["make_grid", "save_grid", "save_image", "save_gif", "save_npz", "read_recipe", "read_label",
               "CMAPS"],
    "Classifier": ["load_model", "load_card", "save_model", "train_classifier", "evaluate", "predict",
                   "classify_images", "classify_files"],
    "Dreaming": ["dream_digits", "DreamConfig", "deepdream", "DeepDreamConfig", "render", "objectives",
                 "params", "transforms"],
    "Generators": ["generate_digits", "reconstruct", "morph", "latent_map", "load_generator", "train_generator",
                   "restyle", "mix_styles", "similar"],
    "Attribution": ["explain"],
    "Metrics": ["judge_agreement", "frechet_distance", "novelty", "diversity", "deletion_auc", "style_consistency"],
    "Pen plotters and copies": ["strokes", "near_copies"],
    "Writing results": ["Sheet", "save"],
    "Errors and version": ["NeuroartError", "__version__"],
}


def _doc(obj) -> str:
    import inspect

    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def render_api() -> str:
    import inspect

    import neuroart

    listed = [n for names in GROUPS.values() for n in names]
    missing = sorted(set(neuroart.__all__) - set(listed))
    if missing:
        raise SystemExit(f"add these public names to GROUPS in docs/make_reference.py: {missing}")
    parts = [
        "# neuroart Python API\n",
        "Everything below is importable from `neuroart` (`import neuroart as na`); TensorFlow loads only",
        "when a model is first needed. Generated from the docstrings by `python docs/make_reference.py`.\n",
    ]
    for group, names in GROUPS.items():
        parts.append(f"## {group}\n")
        for name in names:
            obj = getattr(neuroart, name)
            if inspect.ismodule(obj):
                members = [m for m in getattr(obj, "__all__", dir(obj)) if not m.startswith("_")]
                funcs = [m for m in members if inspect.isfunction(getattr(obj, m, None))
                         and getattr(obj, m).__module__ == obj.__name__]
                parts.append(f"### `{name}` (module `{obj.__name__}`)\n\n{_doc(obj)}\n")
                if funcs:
                    parts.append("Functions: " + ", ".join(f"`{f}`" for f in funcs) + ".\n")
            elif inspect.isclass(obj) or inspect.isfunction(obj):
                try:
                    sig = str(inspect.signature(obj))
                except (TypeError, ValueError):
                    sig = "(...)"
                parts.append(f"### `{name}{sig}`\n\n{_doc(obj)}\n")
            else:
                parts.append(f"### `{name}`\n\n`{obj!r}`\n")
    return "\n".join(parts)


if __name__ == "__main__":
    (HERE / "cli.md").write_text(render_cli())
    (HERE / "api.md").write_text(render_api())
    print(f"wrote {HERE / 'cli.md'} and {HERE / 'api.md'}")
