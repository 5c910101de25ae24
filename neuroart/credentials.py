"""Content credentials: a signed C2PA manifest in a picture neuroart made (optional: the `c2pa` extra).

The honest label (`neuroart.imaging.xmp_packet`) says what made a picture, but anyone can write
it. A C2PA manifest signed with your certificate says who vouches for the picture and that its
bytes have not changed since. `sign` adds one through the official bindings (``c2pa-python``):
the action ``c2pa.created`` with the picture's IPTC Digital Source Type (read from its label),
neuroart as the software agent, and the picture's recipe as an assertion of its own
(``org.neuroart.recipe``). The label and the recipe chunk stay as they were.

A signed file is no longer byte-reproducible (a manifest has its own id); the unsigned picture
still is. The certificate is a PEM chain (your signing certificate first); the key a PEM private
key (EC P-256/P-384, Ed25519 or RSA).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ._util import NeuroartError
from ._version import __version__

#: What `sign` accepts: file suffix -> media type.
FORMATS = {".png": "image/png", ".gif": "image/gif"}
#: The assertion that carries a picture's recipe.
RECIPE_ASSERTION = "org.neuroart.recipe"
MAX_PEM_BYTES = 1 << 20


def _pem(path, what: str) -> bytes:
    from ._util import input_file

    data = input_file(path, what=what).read_bytes()[: MAX_PEM_BYTES + 1]
    if len(data) > MAX_PEM_BYTES or b"-----BEGIN " not in data:
        raise NeuroartError(f"{path}: not a PEM {what}")
    return data


def _algorithm(key_pem: bytes, path, c2pa):
    """The C2PA signing algorithm that suits the private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise NeuroartError(f"{path}: not a usable private key ({str(e).splitlines()[0]})") from None
    alg = c2pa.C2paSigningAlg
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return alg.ES256 if key.curve.name == "secp256r1" else alg.ES384
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return alg.ED25519
    if isinstance(key, rsa.RSAPrivateKey):
        return alg.PS256
    raise NeuroartError(f"{path}: an EC P-256/P-384, Ed25519 or RSA key is needed")


def manifest(name: str, label: dict | None, recipe: dict | None) -> dict:
    """The manifest `sign` writes for a picture named `name` with its `label` and `recipe`."""
    from .imaging import source_type

    actions = [{"action": "c2pa.created", "digitalSourceType": (label or {}).get("source_type", source_type()),
                "softwareAgent": {"name": "neuroart", "version": __version__}}]
    assertions = [{"label": "c2pa.actions", "data": {"actions": actions}}]
    if recipe:
        assertions.append({"label": RECIPE_ASSERTION, "data": recipe})
    return {"claim_generator_info": [{"name": "neuroart", "version": __version__}], "title": name,
            "assertions": assertions}


def sign(path: str | os.PathLike, *, cert, key, out=None) -> Path:
    """Sign the PNG or GIF `path` with a C2PA manifest (`manifest`), written to `out` (default: in
    place), atomically. Returns the path written; one `NeuroartError` line for bad input."""
    from ._util import input_file
    from .outputs import check_output, read_label, read_recipe, write_all

    src = input_file(path, what="picture")
    media = FORMATS.get(src.suffix.lower())
    if media is None:
        raise NeuroartError(f"{path}: only PNG and GIF pictures are signed")
    target = check_output(out if out is not None else src, "out" if media == "image/png" else "gif", option="out")
    cert_pem, key_pem = _pem(cert, "certificate"), _pem(key, "key")
    try:
        import c2pa
    except ImportError:
        raise NeuroartError("signing needs c2pa-python: pip install 'neuroart[c2pa]'") from None
    alg = _algorithm(key_pem, key, c2pa)
    recipe = read_recipe(src) if media == "image/png" else None
    spec = manifest(src.name, read_label(src), recipe)
    signed = io.BytesIO()
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, cert_pem, key_pem, None))
        # no thumbnail: the picture is its own (one made by default adds ~140 KB to an 8 KB grid)
        context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
        with open(src, "rb") as f:
            c2pa.Builder(spec, context=context).sign(signer, media, f, signed)
    except c2pa.C2paError as e:
        reason = " ".join(str(e).split())[:300]
        raise NeuroartError(f"cannot sign {path}: {reason}") from None
    data = signed.getvalue()
    write_all([(target, lambda f: f.write(data))])
    return target
