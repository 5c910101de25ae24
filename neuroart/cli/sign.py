"""neuroart sign: content credentials (a signed C2PA manifest) in a picture neuroart made."""

from __future__ import annotations

import click

from . import echo_wrote, library_errors, main


@main.command()
@click.argument("picture", type=click.Path(dir_okay=False))
@click.option("--cert", required=True, type=click.Path(dir_okay=False),
              help="Your certificate chain (PEM, the signing certificate first).")
@click.option("--key", required=True, type=click.Path(dir_okay=False), help="Its private key (PEM, unencrypted).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="The signed copy [default: sign PICTURE in place].")
@library_errors
def sign(picture, cert, key, out):
    """Sign a PNG or GIF with C2PA content credentials (needs `pip install 'neuroart[c2pa]'`).

    The manifest says that a trained model made the picture (the IPTC Digital Source Type of its
    label), names neuroart as the software and carries the picture's recipe; your signature says
    who vouches for it and that the bytes are unchanged (docs/artists.md).

    \b
    Example:
        neuroart sign dream.png --cert me.pem --key me.key --out dream-signed.png
    """
    from ..credentials import sign as sign_picture

    echo_wrote(sign_picture(picture, cert=cert, key=key, out=out))
