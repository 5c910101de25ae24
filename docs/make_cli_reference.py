"""Write docs/cli.md from the commands' own --help (tests/test_docs.py checks it is current).

    python docs/make_cli_reference.py
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


def render() -> str:
    from neuroart.cli import main

    runner = CliRunner()
    parts = [
        "# neuroart CLI reference\n",
        "Generated from each command's `--help` by `python docs/make_cli_reference.py`;",
        "`tests/test_docs.py` fails when a command is missing or out of date.\n",
    ]
    for path in [(), *commands(main)]:
        result = runner.invoke(main, [*path, "--help"], prog_name="neuroart", terminal_width=100)
        title = " ".join(("neuroart", *path))
        parts.append(f"## {title}\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    (HERE / "cli.md").write_text(render())
    print(f"wrote {HERE / 'cli.md'}")
