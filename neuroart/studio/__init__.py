"""neuroart studio: a local web app to draw a digit and watch the network read, explain, dream,
restyle and morph it (``neuroart studio``; needs ``pip install 'neuroart[studio]'``).

- `app`: `create_app` and the routes list; the jobs it wires live beside it (`settings`,
  `options`, `uploads`, `resources`, `saving`, `batcher`, `routes`, `middleware`, `server`);
- ``static/``: the one page (index.html, studio.js, studio.css), served from the package.

Importing this package loads neither TensorFlow nor Starlette.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(**options):
    """The ASGI app (see `neuroart.studio.app.create_app`)."""
    from .app import create_app as create

    return create(**options)
