"""`neuroart studio`: the local web app (draw a digit; read, explain, dream, restyle, morph, save)."""

from __future__ import annotations

import click

from .._util import NeuroartError
from . import library_errors, main

LOOPBACK = ("127.0.0.1", "localhost", "::1")
INSTALL = "the studio needs its server stack: pip install 'neuroart[studio]' (starlette, uvicorn)"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the studio (and Save) to your network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@click.option("--save-dir", type=click.Path(file_okay=False), default="studio", show_default=True,
              help="Folder where Save writes pictures (with their recipes) and your drawings.")
@library_errors
def studio(host, port, no_browser, save_dir):
    """Draw a digit and watch the network read it, explain it, dream it, restyle it.

    A local web app (one page, nothing loaded from outside): live probabilities of the reader
    and the article's MLP, the 28x28 digit as the network sees it, the MLP's hidden units and
    their dreams, the attribution overlay; dream the drawing into another digit, see it as 0-9,
    morph two drawings, and Save what you made as a PNG whose recipe `neuroart replay` re-runs.
    Ctrl-C stops it.

    \b
    Example:
        neuroart studio                           # http://127.0.0.1:8000, opens the browser
        neuroart studio --port 8765 --no-browser --save-dir ~/digits
    """
    import importlib.util

    if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("uvicorn") is None:
        raise NeuroartError(INSTALL)
    import socket

    from ..studio.app import create_app
    from ..studio.server import run
    from ..studio.settings import LOOPBACK_HOSTS

    if host not in LOOPBACK:
        click.secho(f"WARNING: listening on {host}: anyone who can reach this machine can use the studio and "
                    f"write into {save_dir}. Use --host 127.0.0.1 unless you mean it.", fg="red", bold=True, err=True)
    try:  # a busy port is one clear line, before the models load
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1] if port == 0 else port
    except OSError as e:
        raise NeuroartError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    click.echo("loading models...", err=True)
    app = create_app(save_dir=save_dir, allowed_hosts=list(LOOPBACK_HOSTS) if host in LOOPBACK else None)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    click.echo(f"neuroart studio: {url}  (saves into {app.state.studio.save_dir}; Ctrl-C to stop)")
    run(app, host=host, port=port, url=url, open_browser=not no_browser)  # ends the process on Ctrl-C
