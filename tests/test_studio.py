"""neuroart studio's server: every route, bad requests, static-file confinement, Save's folder, CSP."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from PIL import Image  # noqa: E402


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode("ascii")


def stroke_digit(kind: str) -> np.ndarray:
    """A 280x280 black pad with a white 1, 7 or 0 drawn on it (as the page's canvas sends)."""
    from PIL import ImageDraw

    img = Image.new("L", (280, 280), 0)
    d = ImageDraw.Draw(img)
    if kind == "1":
        d.line([(140, 40), (140, 240)], fill=255, width=20)
    elif kind == "7":
        d.line([(70, 50), (210, 50), (120, 240)], fill=255, width=20, joint="curve")
    else:
        d.ellipse([70, 40, 210, 240], outline=255, width=20)
    return np.asarray(img)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels (and holds one empty IDAT): read header-first."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


ONE, SEVEN, ZERO = (data_url(png_bytes(stroke_digit(k))) for k in "170")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from starlette.testclient import TestClient

    from neuroart.studio.app import create_app

    save_dir = tmp_path_factory.mktemp("studio") / "saves"
    app = create_app(save_dir=save_dir, warm_up=False)
    app.state.studio.preload()  # what the background warm-up loads first (the dream's prior, the judge)
    with TestClient(app) as c:
        c.save_dir = save_dir
        c.app_ref = app
        yield c


def test_page_and_static_files_carry_the_csp(client):
    for path in ("/", "/static/studio.js", "/static/studio.css", "/api/info", "/api/nope"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "object-src 'none'" in csp, path
        assert r.headers["x-content-type-options"] == "nosniff"
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/studio.js"' in page.text
    # nothing on the page comes from outside: no absolute URLs in the page, its script or its style
    static = Path(__file__).resolve().parents[1] / "neuroart" / "studio" / "static"
    for f in static.iterdir():
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name


def test_classify_reads_drawn_digits(client):
    for url, digit in ((ONE, 1), (SEVEN, 7), (ZERO, 0)):
        r = client.post("/api/classify", json={"image": url})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["digit"] == digit
        assert len(body["reader"]["probabilities"]) == 10 and len(body["mlp"]["probabilities"]) == 10
        assert abs(sum(body["reader"]["probabilities"]) - 1) < 1e-2
        assert len(body["seen"]) == 784 and max(body["seen"]) == 255
        assert len(body["hidden"]["activations"]) == 128 and body["hidden"]["layer"] == "dense"
        assert len(body["attribution"]["map"]) == 784 and body["attribution"]["target"] == digit
        assert max(abs(v) for v in body["attribution"]["map"]) == 100


def test_explain_route(client):
    r = client.post("/api/explain", json={"image": SEVEN, "method": "gradient", "versus": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "gradient" and body["versus"] == 1 and body["target"] == 7
    assert len(body["map"]) == 784


def _gif(body) -> bool:
    url = body["gif"]
    return url.startswith("data:image/gif;base64,") and base64.b64decode(url.split(",", 1)[1])[:6] == b"GIF89a"


MAKING = [  # (route, body (None: GET), check of the answer)
    ("/api/dream", {"image": ONE, "digit": 7, "frames": 6, "seed": 1},
     lambda b: len(b["frames"]) >= 6 and len(b["image"]) == 784 and _gif(b)),
    ("/api/restyle", {"image": SEVEN}, lambda b: b["digits"] == list(range(10)) and len(b["images"]) == 10),
    ("/api/similar", {"image": SEVEN, "n": 4, "spread": 0.3}, lambda b: len(b["images"]) == 4),
    ("/api/morph", {"image": ONE, "image_b": SEVEN, "frames": 5}, lambda b: len(b["frames"]) == 5 and _gif(b)),
    ("/api/morph", {"image": ONE, "image_b": SEVEN}, lambda b: len(b["frames"]) == 12),  # the page's default
    ("/api/generate", {"digit": 3, "n": 3, "seed": 2}, lambda b: len(b["images"]) == 3),
    ("/api/atlas", None, lambda b: b["units"] == 128 and len(b["images"]) == 128 and len(b["images"][5]) == 784),
]


@pytest.mark.parametrize("route, body, check", MAKING, ids=[f"{m[0]}-{i}" for i, m in enumerate(MAKING)])
def test_making_routes(client, route, body, check):
    r = client.get(route) if body is None else client.post(route, json=body)
    assert r.status_code == 200, r.text
    assert check(r.json())


def test_info_tells_the_page_its_numbers(client):
    from neuroart.studio.settings import DREAM_FRAMES, DREAM_STEPS

    info = client.get("/api/info").json()
    assert info["hidden"] == {"layer": "dense", "units": 128, "grid": [16, 8]}
    assert info["morph"] == {"frames": 12} and info["similar"] == {"n": 8}
    assert info["dream"] == {"steps": DREAM_STEPS, "frames": DREAM_FRAMES} and info["limits"]["body_bytes"] == 4 << 20


def test_save_writes_only_into_the_save_dir_with_a_recipe(client):
    from neuroart.outputs import read_recipe
    from neuroart.studio.settings import DREAM_OPTIONS

    save_dir: Path = client.save_dir
    outside = sorted(p.name for p in save_dir.parent.iterdir())
    # a request cannot name a file or a folder
    for extra in ({"out": "/tmp/x.png"}, {"path": "../evil.png"}, {"name": "x"}, {"save_dir": "/tmp"}):
        r = client.post("/api/save", json={"image": SEVEN, "kind": "dream", "digit": 3, **extra})
        assert r.status_code == 400 and "unknown option" in r.json()["error"]
    for kind in ("../../evil", "/etc/passwd", "dream/../../x"):
        r = client.post("/api/save", json={"image": SEVEN, "kind": kind})
        assert r.status_code == 400
    r = client.post("/api/save", json={"image": SEVEN, "kind": "dream", "digit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["files"] == ["drawing-0001.png", "dream-0001.png"] and Path(body["folder"]) == save_dir.resolve()
    recipe = read_recipe(save_dir / "dream-0001.png")
    assert recipe["argv"][:2] == ["dream", "3"] and str(save_dir.resolve() / "drawing-0001.png") in recipe["argv"]
    opts = recipe_options(recipe["argv"])  # the library call's options, as the CLI parses them back
    assert {"digits": ("3",), "start": str(save_dir.resolve() / "drawing-0001.png"), "per_digit": 1,
            "out": str(save_dir.resolve() / "dream-0001.png")}.items() <= opts.items()
    assert all(opts.get(k, v) == v for k, v in DREAM_OPTIONS.items()) and opts.get("steps") is None, opts  # the flow's own
    assert (save_dir / "drawing-0001.png").read_bytes() == base64.b64decode(SEVEN.split(",", 1)[1])
    r = client.post("/api/save", json={"image": ONE, "kind": "restyle"})
    assert r.status_code == 200, r.text
    assert r.json()["picture"] == "restyle-0002.png" and read_recipe(save_dir / "restyle-0002.png")["argv"][0] == "restyle"
    assert sorted(p.name for p in save_dir.parent.iterdir()) == outside  # nothing written beside the folder
    assert all(p.parent == save_dir for p in save_dir.rglob("*"))


def recipe_options(argv: list[str]) -> dict:
    """The options the CLI parses from a recipe's argv that differ from its defaults (flags checked by click)."""
    import click

    from neuroart.cli import main

    with click.Context(main) as ctx:
        command = main.get_command(ctx, argv[0])
        params = command.make_context(argv[0], list(argv[1:]), parent=ctx).params
        defaults = {p.name: p.get_default(ctx) for p in command.params}
    return {k: v for k, v in params.items() if v != defaults.get(k) and v not in ((), None)}


def test_command_argv_spells_library_arguments_as_flags():
    from neuroart.recipe import command_argv

    assert command_argv("dream", 3, start=Path("a.png"), per_digit=1, seed=None, bounce=True, cold=False,
                        unit=(4, 5)) == ["dream", "3", "--start", "a.png", "--per-digit", "1", "--bounce",
                                         "--unit", "4", "--unit", "5"]


def test_saved_morph_recipe_parses_as_the_cli_command(client):
    r = client.post("/api/save", json={"image": ONE, "image_b": SEVEN, "kind": "morph", "frames": 4, "seed": 3})
    assert r.status_code == 200, r.text
    argv = r.json()["recipe"]["argv"]
    opts = recipe_options(argv)
    assert opts["frames"] == 4 and opts["seed"] == 3 and opts["out"].endswith(r.json()["picture"])


def test_saved_pictures_replay_byte_identical(client, tmp_path):
    """`neuroart replay` re-runs a Save's recipe (on the saved drawing) and writes the same bytes."""
    from click.testing import CliRunner

    from neuroart.cli import main

    r = client.post("/api/save", json={"image": ZERO, "kind": "dream", "digit": 6, "seed": 5})
    assert r.status_code == 200, r.text
    files = [client.save_dir / f for f in r.json()["files"]]
    drawing, picture = files[0], files[-1]
    res = CliRunner().invoke(main, ["replay", str(picture), "--out", str(tmp_path / "again.png"), "--with", str(drawing)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again.png").read_bytes() == picture.read_bytes()


def _bad_requests():
    big = data_url(png_header(100_000, 100_000))
    blank = data_url(png_bytes(np.zeros((280, 280), np.uint8)))
    return [
        # (route, body (dict -> JSON, bytes -> raw), content type, expected status, words in the error)
        ("/api/classify", b'{"image": "x"}', "text/plain", 415, "JSON"),
        ("/api/classify", b"{not json", "application/json", 400, "not valid JSON"),
        ("/api/classify", b"[1, 2]", "application/json", 400, "JSON object"),
        ("/api/classify", b"[" * 100_000, "application/json", 400, "not valid JSON"),
        ("/api/classify", {}, None, 400, "missing option 'image'"),
        ("/api/classify", {"image": 42}, None, 400, "data URL"),
        ("/api/classify", {"image": {"nested": ONE}}, None, 400, "data URL"),
        ("/api/classify", {"image": "hello"}, None, 400, "data URL"),
        ("/api/classify", {"image": "data:image/png;base64,@@not-base64@@"}, None, 400, "malformed base64"),
        ("/api/classify", {"image": "data:image/png;base64,"}, None, 400, "empty"),
        ("/api/classify", {"image": data_url(b"hello, I am not a picture")}, None, 400, "not an image"),
        ("/api/classify", {"image": data_url(png_bytes(stroke_digit("7"))[:200])}, None, 400, "image"),
        ("/api/classify", {"image": big}, None, 400, "too large"),
        ("/api/classify", {"image": data_url(png_header(0, 0))}, None, 400, "image"),
        ("/api/classify", {"image": blank}, None, 400, "blank"),
        ("/api/classify", {"image": ONE, "colour": "red"}, None, 400, "unknown option 'colour'"),
        ("/api/dream", {"image": ONE}, None, 400, "missing option 'digit'"),
        ("/api/dream", {"image": ONE, "digit": 10}, None, 400, "digit"),
        ("/api/dream", {"image": ONE, "digit": [7]}, None, 400, "digit"),
        ("/api/dream", {"image": ONE, "digit": True}, None, 400, "digit"),
        ("/api/dream", {"image": ONE, "digit": 7, "seed": "abc"}, None, 400, "seed"),
        ("/api/dream", {"image": ONE, "digit": 7, "seed": -1}, None, 400, "seed"),
        ("/api/dream", {"image": ONE, "digit": 7, "steps": 100_000}, None, 400, "steps"),
        ("/api/dream", {"image": ONE, "digit": 7, "frames": 2.5}, None, 400, "frames"),
        ("/api/explain", {"image": ONE, "method": "bogus"}, None, 400, "method"),
        ("/api/similar", {"image": ONE, "spread": float("inf")}, None, 400, "spread"),
        ("/api/morph", {"image": ONE}, None, 400, "image_b"),
        ("/api/generate", {"digit": 3, "n": 0}, None, 400, "n must be"),
        ("/api/generate", {"digit": 3, "temperature": "hot"}, None, 400, "temperature"),
        ("/api/save", {"image": ONE, "kind": "morph"}, None, 400, "image_b"),
        ("/api/save", {"image": data_url(b"GIF89a" + b"\0" * 20, "image/gif"), "kind": "dream", "digit": 1}, None, 400, "image"),
        ("/api/classify", b"x" * (4 * 1024 * 1024 + 10), "application/json", 413, "too large"),
    ]


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(client):
    import json

    cases = _bad_requests()
    assert len(cases) >= 20
    for route, body, ctype, status, words in cases:
        if isinstance(body, dict):
            raw, ctype = json.dumps(body, allow_nan=True).encode(), "application/json"
        else:
            raw = body
        r = client.post(route, content=raw, headers={"content-type": ctype})
        assert r.status_code == status, (route, body if isinstance(body, dict) else body[:40], r.text)
        err = r.json()["error"]
        assert words.lower() in err.lower(), (route, err)
        assert "\n" not in err and "Traceback" not in err
    assert client.get("/api/classify").status_code == 405
    assert client.post("/api/nope", json={}).status_code == 404
    r = client.post("/api/classify", json={"image": SEVEN})  # and a good one still works
    assert r.status_code == 200 and r.json()["digit"] == 7


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2fapp.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/..%5capp.py", "/static/static/../../app.py",
])
def test_static_files_cannot_escape_the_package(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "import" not in r.text and "root:" not in r.text


def test_models_load_once(client, monkeypatch):
    """After start-up no request loads a model file (the library's cache or the studio's own)."""
    from neuroart._util import keras

    calls = []
    real = keras().models.load_model
    monkeypatch.setattr(keras().models, "load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    for route, body in (("/api/classify", {"image": ONE}), ("/api/dream", {"image": ONE, "digit": 2, "frames": 2}),
                        ("/api/morph", {"image": ONE, "image_b": ZERO, "frames": 3}), ("/api/restyle", {"image": ZERO}),
                        ("/api/generate", {"digit": 5, "n": 2})):
        assert client.post(route, json=body).status_code == 200, route
    assert calls == []


def test_concurrent_classify_requests_share_model_calls(client):
    import httpx

    app = client.app_ref
    batcher = app.state.batcher

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as c:
            return await asyncio.gather(*[c.post("/api/classify", json={"image": url}) for url in [ONE, SEVEN, ZERO] * 8])

    before = batcher.batches
    answers = asyncio.run(burst())
    assert [a.json()["digit"] for a in answers] == [1, 7, 0] * 8
    assert batcher.batches - before < len(answers)  # batched: fewer model calls than requests


def test_hosts_other_than_the_studio_are_refused(client):
    from starlette.testclient import TestClient

    from neuroart.studio.app import create_app

    app = create_app(studio=client.app_ref.state.studio, allowed_hosts=["127.0.0.1", "localhost"], warm_up=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/info").status_code == 200
        r = c.get("/api/info", headers={"host": "evil.example:8000"})
        assert r.status_code == 421 and "content-security-policy" in r.headers


def test_digit_from_bytes_matches_load_digit_image(tmp_path):
    from neuroart.data import digit_from_bytes, load_digit_image

    raw = png_bytes(stroke_digit("7"))
    (tmp_path / "seven.png").write_bytes(raw)
    assert np.array_equal(digit_from_bytes(raw), load_digit_image(tmp_path / "seven.png"))


def test_cli_without_the_extra_says_how_to_install(invoke, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    from click.testing import CliRunner

    from neuroart.cli import main

    result = CliRunner().invoke(main, ["studio", "--no-browser"])
    assert result.exit_code != 0
    assert "pip install 'neuroart[studio]'" in result.output


def _fake_server(monkeypatch, tmp_path):
    """`neuroart studio` with the app and the server stubbed out (no models, no listening)."""
    import types

    import neuroart.studio.app as studio_app
    import neuroart.studio.server as studio_server

    made = {}

    def create_app(**kw):
        made.update(kw)
        return types.SimpleNamespace(state=types.SimpleNamespace(studio=types.SimpleNamespace(save_dir=tmp_path)))

    monkeypatch.setattr(studio_app, "create_app", create_app)
    monkeypatch.setattr(studio_server, "run", lambda app, **kw: made.update(served=kw))
    return made


def test_cli_warns_loudly_off_loopback_and_guards_hosts_on_it(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from neuroart.cli import main

    made = _fake_server(monkeypatch, tmp_path)
    r = CliRunner().invoke(main, ["studio", "--no-browser", "--port", "0", "--save-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "WARNING" not in r.output and made["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    r = CliRunner().invoke(main, ["studio", "--no-browser", "--port", "0", "--host", "0.0.0.0"])
    assert r.exit_code == 0, r.output
    assert "WARNING: listening on 0.0.0.0" in r.output and made["allowed_hosts"] is None


def test_cli_busy_port_is_one_clear_line(monkeypatch, tmp_path):
    import socket

    from click.testing import CliRunner

    from neuroart.cli import main

    _fake_server(monkeypatch, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(main, ["studio", "--no-browser", "--port", str(port)])
    assert r.exit_code != 0
    assert f"cannot listen on 127.0.0.1:{port}" in r.output and "Traceback" not in r.output


# --------------------------------------------------------------------------- over HTTP, a running server


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live(client):
    """The studio served by uvicorn on a free loopback port, as `neuroart studio` serves it (its
    protocol, limits and Host guard), sharing the module's models; short head deadline, few connections."""
    import types

    from conftest import serving

    import neuroart.studio.server as server
    from neuroart.studio.app import create_app
    from neuroart.studio.settings import LOOPBACK_HOSTS

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(server, "HEAD_SECONDS", 3.0)
        mp.setattr(server, "MAX_CONNECTIONS", 200)
        app = create_app(studio=client.app_ref.state.studio, allowed_hosts=list(LOOPBACK_HOSTS), warm_up=False)
        port = free_port()
        with serving(app, port):
            yield types.SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, app=app, save_dir=client.save_dir)


def raw_http(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `request` as is on a fresh connection; everything the server answers until it closes."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):  # refused before it was all sent: read the answer
            pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b"connection: close" not in out.lower():
                    head, _, body = out.partition(b"\r\n\r\n")
                    length = next((int(v) for k, _, v in (x.partition(b":") for x in head.split(b"\r\n")[1:])
                                   if k.strip().lower() == b"content-length"), None)
                    if length is not None and len(body) >= length:
                        break
        except (ConnectionResetError, TimeoutError):
            pass
    return out


def post(port: int, path: str, body: bytes, *headers: str, host: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close", *headers]
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def big_png(width: int, height: int) -> bytes:
    """A real black width x height grayscale PNG, compressed row by row (never held in memory)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z, row, idat = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        idat.append(z.compress(row))
    idat.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(idat)) + chunk(b"IEND", b"")


@functools.lru_cache(maxsize=1)
def bomb_files() -> dict:
    """Pictures the studio must refuse before decoding, by what is inside them."""
    frames = [Image.new("L", (64, 64), v) for v in (0, 128, 255)]

    def saved(img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    huge = big_png(13000, 13000)  # 170 kB that decode to 169 MB (and more as floats)
    ico = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(huge), 22) + huge
    return {
        "ico with a 13000x13000 png inside": ico,
        "icns": b"icns" + struct.pack(">I", 8 + 8 + len(huge)) + b"ic10" + struct.pack(">I", 8 + len(huge)) + huge,
        "tiff pages": saved(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "gif frames": saved(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "apng frames": saved(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "mpo pictures": saved(frames[0].convert("RGB"), "MPO", save_all=True, append_images=[frames[1].convert("RGB")]),
        "webp": saved(frames[0], "WEBP"),
        "bmp": saved(frames[0], "BMP"),
        "psd-like": b"8BPS\x00\x01" + b"\0" * 6 + struct.pack(">HIIHH", 1, 30000, 30000, 8, 1) + b"\0" * 64,
        "jpeg claiming 30000x30000": (b"\xff\xd8\xff\xc0\x00\x0b\x08" + struct.pack(">HH", 30000, 30000)
                                      + b"\x01\x01\x11\x00\xff\xd9"),
    }


@pytest.mark.parametrize("name", list(bomb_files()))
def test_image_bombs_and_containers_are_refused_before_decoding(live, name):
    import time

    body = json.dumps({"image": data_url(bomb_files()[name], "image/x-icon")}).encode()
    before, t = rss_mb(), time.perf_counter()
    answer = post(live.port, "/api/classify", body)
    assert status_of(answer) == 400, answer[:300]
    assert time.perf_counter() - t < 2 and rss_mb() - before < 60, "decoded before refusing"
    assert b"image" in answer.split(b"\r\n\r\n", 1)[1]


def test_cross_site_requests_are_refused_on_every_state_changing_route(live):
    body = json.dumps({"image": SEVEN, "kind": "dream", "digit": 3}).encode()
    files = sorted(p.name for p in live.save_dir.iterdir())
    for headers in (["Origin: http://evil.example.com", "Sec-Fetch-Site: cross-site"], ["Origin: http://evil.example.com"],
                    ["Sec-Fetch-Site: cross-site"], ["Sec-Fetch-Site: same-site"], ["Origin: null"],
                    [f"Origin: http://localhost:{live.port}"],  # another name of the same server: another origin
                    ["Referer: http://evil.example.com/page"],
                    [f"Origin: http://127.0.0.1:{live.port}", "Origin: http://evil.example.com"]):
        for route in ("/api/save", "/api/classify", "/api/dream", "/api/morph"):
            answer = post(live.port, route, body, *headers)
            assert status_of(answer) == 403, (route, headers, answer[:200])
    assert sorted(p.name for p in live.save_dir.iterdir()) == files  # nothing written
    for path in ("/api/info", "/api/atlas"):  # reading the API from elsewhere is refused too
        answer = raw_http(live.port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
                                     "Sec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n".encode())
        assert status_of(answer) == 403, path
    # the page itself may be opened from a link elsewhere; the page's own requests pass
    answer = raw_http(live.port, f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nSec-Fetch-Site: cross-site\r\n"
                                 "Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n".encode())
    assert status_of(answer) == 200
    same = post(live.port, "/api/classify", json.dumps({"image": SEVEN}).encode(), f"Origin: http://127.0.0.1:{live.port}",
                "Sec-Fetch-Site: same-origin")
    assert status_of(same) == 200, same[:300]


@pytest.mark.parametrize("host, status", [
    ("[::1].evil.example.com", 421), ("[::1]evil.example.com:80", 421), ("localhost.evil.example.com", 421),
    ("127.0.0.1.nip.io", 421), ("evil.example.com", 421), ("127.0.0.1:99999", 421), ("127.0.0.1:80:80", 421),
    ("127.0.0.1@evil.example.com", 421), ("", 421), ("[::1]", 200), ("[::1]:8000", 200), ("LOCALHOST:1", 200),
    ("127.0.0.1", 200),
])
def test_host_is_parsed_exactly(live, host, status):
    answer = raw_http(live.port, f"GET /api/info HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status_of(answer) == status, answer[:200]


def test_two_host_headers_are_a_bad_request(live):
    for first, second in (("evil.example.com", "127.0.0.1"), ("127.0.0.1", "evil.example.com"),
                          ("127.0.0.1", "127.0.0.1")):
        answer = raw_http(live.port, f"GET /api/info HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n"
                                     "Connection: close\r\n\r\n".encode())
        assert status_of(answer) == 400, (first, second, answer[:200])


def test_memory_stays_bounded_under_100_concurrent_4mib_uploads(live):
    import threading

    filler = "A" * (4 * 1024 * 1024 - 200)
    body = json.dumps({"image": "data:image/png;base64," + filler + "@"}).encode()
    assert len(body) < 4 * 1024 * 1024
    head = (f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    before, peak, done = rss_mb(), [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            done.wait(0.01)

    async def upload():
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        view = memoryview(body)  # sent in slices: the client holds one copy of the body for all
        try:
            writer.write(head)
            for i in range(0, len(body), 1 << 16):
                writer.write(view[i:i + (1 << 16)])
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError):  # answered before the whole body was sent (408)
            pass
        answer = await reader.read()
        writer.close()
        return status_of(answer)

    async def all_at_once():
        return await asyncio.gather(*[upload() for _ in range(100)])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        statuses = asyncio.run(all_at_once())
    finally:
        done.set()
        watcher.join()
    # malformed base64, each of them read in full (or, on a loaded machine, too slow to arrive)
    assert set(statuses) <= {400, 408} and statuses.count(400) >= 50, statuses
    assert peak[0] - before < 400, f"the server grew by {peak[0] - before:.0f} MB"


@pytest.fixture
def save_folder(live):
    """The live studio's save folder, put back as it was after the test."""
    import shutil
    import subprocess

    folder = live.save_dir.resolve()
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        folder.chmod(0o755)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder.parent / "elsewhere", ignore_errors=True)


def _save(live) -> tuple[int, dict]:
    answer = post(live.port, "/api/save", json.dumps({"image": ONE, "kind": "restyle"}).encode())
    return status_of(answer), json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_save_into_a_deleted_folder_makes_it_again(live, save_folder):
    import shutil

    shutil.rmtree(save_folder)
    status, body = _save(live)
    assert status == 200, body
    assert (save_folder / body["picture"]).is_file()


@pytest.mark.parametrize("how", ["replaced by a file", "replaced by a link", "read-only"])
def test_save_into_a_broken_folder_is_a_5xx_that_names_it(live, save_folder, how):
    import os
    import shutil
    import subprocess

    if how == "read-only":
        if os.geteuid() == 0:  # root writes into a 0o555 folder: make it immutable instead
            if subprocess.run(["chattr", "+i", str(save_folder)], capture_output=True).returncode:
                pytest.skip("running as root without chattr")
        else:
            save_folder.chmod(0o555)
    else:
        shutil.rmtree(save_folder)
        if how == "replaced by a file":
            save_folder.write_text("not a folder")
        else:
            (save_folder.parent / "elsewhere").mkdir()
            save_folder.symlink_to(save_folder.parent / "elsewhere")
    status, body = _save(live)
    assert 500 <= status < 600, body
    assert str(save_folder) in body["error"] and "None" not in body["error"], body
    assert not any((save_folder.parent / "elsewhere").glob("*")) if how == "replaced by a link" else True


def test_idle_slow_and_oversized_connections_are_closed(live):
    import socket
    import time

    # a connection that never sends a request, one that trickles its head, one done and left idle
    idle = socket.create_connection(("127.0.0.1", live.port))
    slow = socket.create_connection(("127.0.0.1", live.port))
    done = socket.create_connection(("127.0.0.1", live.port))
    done.sendall(f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n\r\n".encode())
    assert done.recv(65536).startswith(b"HTTP/1.1 200")
    t0 = time.monotonic()
    for sock in (idle, slow, done):
        sock.settimeout(0.2)
    closed = set()
    head = f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nX-Slow: ".encode() + b"a" * 200
    while len(closed) < 3 and time.monotonic() - t0 < 12:
        for name, sock in (("idle", idle), ("slow", slow), ("done", done)):
            if name in closed:
                continue
            try:
                if name == "slow":
                    sock.sendall(head[:1])
                    head = head[1:] or b"a"
                if sock.recv(1024) == b"":
                    closed.add(name)
            except TimeoutError:
                pass
            except OSError:
                closed.add(name)
    assert closed == {"idle", "slow", "done"} and time.monotonic() - t0 < 8
    for sock in (idle, slow, done):
        sock.close()
    # a head of 1 MiB is refused and the connection closed
    answer = raw_http(live.port, f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nX-Big: ".encode()
                      + b"a" * (1024 * 1024) + b"\r\n\r\n")
    assert status_of(answer) in (400, 431), answer[:100]


def _closed(sock, wait: float) -> bool:
    """The server closed (or reset) `sock` within `wait` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_connections_beyond_the_limit_evict_the_idle_longest_or_are_refused(live):
    """Past the limit (200 here) a new connection closes the one idle longest; when every other
    connection is busy with a request, the new one is closed at once."""
    import socket
    import time

    socks = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(220)]
    try:
        time.sleep(0.5)
        assert not any(_closed(s, 0.01) for s in socks[-100:])  # the newest stay
        assert sum(_closed(s, 0.2) for s in socks[:20]) >= 15  # the oldest made room
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    busy = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(200)]
    try:
        for s in busy:  # half a request head each: busy, not idle (the head deadline is 3 s here)
            s.sendall(f"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n".encode())
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", live.port)) as extra:
            assert _closed(extra, 1.0)
        assert not any(_closed(s, 0.01) for s in busy)
    finally:
        for s in busy:
            s.close()


def test_a_thousand_idle_sockets_do_not_lock_out_a_real_request(live):
    """1,000 connections held open and silent (issue 25: a classify request after them was cut off
    at once): the idle ones are evicted and the request is answered."""
    import socket

    socks = []
    try:
        for _ in range(1000):
            socks.append(socket.create_connection(("127.0.0.1", live.port)))
        answer = post(live.port, "/api/classify", json.dumps({"image": ONE}).encode())
        assert status_of(answer) == 200, answer[:200]
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["digit"] == 1
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("body, words", [
    ({"image": ONE, "x" * 1_000_000: 1}, "unknown option"),
    ({"image": ONE, "digit": "9" * 5000}, "digit"),
    ({"image": ONE, "digit": 1e300}, "digit"),
    ({"image": ONE, "digit": 7, "seed": -(2**70)}, "seed"),
    ({"image": ONE, "digit": 7, "steps": "1" * 1_000_000}, "steps"),
    ({"image": ONE, "digit": 7, "frames": {"a": [1] * 10}}, "frames"),
    ({"image": "data:image/png;base64," + "A" * 10 + "x" * 1_000_000}, "image"),
])
def test_huge_values_are_not_echoed_in_full(live, body, words):
    answer = post(live.port, "/api/dream", json.dumps(body).encode())
    assert status_of(answer) == 400, answer[:300]
    text = answer.split(b"\r\n\r\n", 1)[1]
    assert len(text) < 400 and words.encode() in text, text[:400]


def test_deeply_nested_json_is_a_bad_request(live):
    for body in (b"[" * 200_000, b'{"image": ' * 100_000, b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"):
        assert status_of(post(live.port, "/api/classify", body)) == 400


def test_a_client_hanging_up_is_one_log_line(live, caplog):
    import logging
    import socket
    import time

    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", live.port)) as s:
        s.sendall(f"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n{\"image\": \"data:".encode())
        time.sleep(0.3)
    deadline = time.monotonic() + 5
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "hung up" in lines[0].getMessage(), [r.getMessage() for r in lines]
    assert lines[0].exc_info is None


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_every_time(tmp_path):
    """`neuroart studio` and SIGINT: exit 0 and no C++ abort, while warming up and with a dream running."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    import httpx

    for when in ("warming up", "dreaming", "idle"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "neuroart", "studio", "--no-browser", "--port", str(port),
                                 "--save-dir", str(tmp_path / "saves")], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
            while True:
                assert proc.poll() is None, proc.stdout.read()
                try:
                    info = httpx.get(url + "/api/info", timeout=5).json()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            if when == "dreaming":
                threading.Thread(target=httpx.post, args=(url + "/api/dream",),
                                 kwargs={"json": {"image": ONE, "digit": 3}, "timeout": 30}, daemon=True).start()
                time.sleep(0.3)
            elif when == "idle":
                while not info["warm"] and time.monotonic() < deadline:
                    time.sleep(0.3)
                    info = httpx.get(url + "/api/info", timeout=5).json()
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(30)
            out = proc.stdout.read()
        assert code == 0 and "terminate called" not in out and "Traceback" not in out, (when, code, out[-2000:])
        assert "studio stopped" in out


def test_warm_up_warms_the_first_strokes_first_and_waits_for_a_pause_in_the_drawing():
    """The live reading's batches and the pen-lift map are warmed before anything else; the slow
    pipelines wait for a pause in the drawing (at most `patience`)."""
    import threading
    import time
    import types

    from neuroart.studio import resources
    from neuroart.studio.resources import Studio

    calls = []

    def record(name):
        return lambda *a, **k: calls.append((name, time.monotonic()))

    fake = types.SimpleNamespace(stopping=threading.Event(), loaded=threading.Event(), ready=threading.Event(),
                                 last_read=time.monotonic() + 0.5,  # someone draws for another half second
                                 **{n: record(n) for n in ("classify", "explain", "preload", "dream", "restyle", "atlas")})
    fake._wait_for_a_pause = types.MethodType(Studio._wait_for_a_pause, fake)
    real_decoder = resources._warm_decoder
    resources._warm_decoder = record("decode")
    try:
        t0 = time.monotonic()
        Studio.warm_up(fake, idle=0.2, patience=3.0)
    finally:
        resources._warm_decoder = real_decoder
    names = [n for n, _ in calls]
    assert names[:4] == ["classify", "explain", "decode", "preload"], names
    assert names[4:] == ["dream", "restyle", "atlas"][: len(names) - 4] and "atlas" in names
    dream_at = dict(calls)["dream"]
    assert dream_at - t0 >= 0.6, "the dream was compiled while someone was drawing"
    assert fake.ready.is_set() and fake.loaded.is_set()


def test_small_files_of_big_pictures_are_decoded_a_few_at_a_time(live):
    """A 4096x4096 PNG is a few kB: decoding many at once is bounded by pixels, not by bytes."""
    import threading

    body = json.dumps({"image": data_url(big_png(4096, 4096))}).encode()
    assert len(body) < 100_000
    before, peak, done = rss_mb(), [0.0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            done.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        threads = [threading.Thread(target=post, args=(live.port, "/api/classify", body)) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        done.set()
        watcher.join()
    assert peak[0] - before < 500, f"the server grew by {peak[0] - before:.0f} MB"


def test_a_request_and_the_warm_up_never_dream_at_once(monkeypatch):
    """The making methods hold one lock: the warm-up's dream and a request's never run (or
    compile) the same TensorFlow functions on two threads at once."""
    import threading
    import time
    import types

    import neuroart.dream
    from neuroart.studio.resources import Studio

    inside, peak, lock = [0], [0], threading.Lock()

    class Done(Exception):
        pass

    def busy_dream(*args, **kwargs):
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.2)
        with lock:
            inside[0] -= 1
        raise Done

    monkeypatch.setattr(neuroart.dream, "dream", busy_dream)
    fake = types.SimpleNamespace(_making=threading.RLock(), loaded=threading.Event(), mlp=None, _atlas=None,
                                 hidden_units=4)
    fake.loaded.set()

    def call(method, *args, **kwargs):
        try:
            method(fake, *args, **kwargs)
        except Done:
            pass

    threads = [threading.Thread(target=call, args=(Studio.dream, None), kwargs=dict(digit=d, steps=2, frames=2, seed=0))
               for d in (3, 7)] + [threading.Thread(target=call, args=(Studio.atlas,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 1


@pytest.mark.parametrize("raised, code", [(KeyboardInterrupt(), 0), (asyncio.CancelledError(), 0),
                                          (SystemExit(3), 3), (RuntimeError("boom"), 1)])
def test_whatever_ends_the_serving_the_process_ends_at_once(monkeypatch, capsys, raised, code):
    """Ctrl-C may reach `run` as KeyboardInterrupt or as asyncio's cancellation; neither, nor a
    SystemExit or an error, may leave the process to an interpreter shutdown beside TensorFlow's
    threads (a segmentation fault): `run` always ends it with ``os._exit``."""
    import logging
    import os

    import uvicorn

    from neuroart.studio import server

    class Exited(BaseException):
        pass

    def fake_exit(status):
        raise Exited(status)

    class FakeServer:
        def __init__(self, config):
            pass

        def run(self):
            raise raised

    monkeypatch.setattr(uvicorn, "Server", FakeServer)
    monkeypatch.setattr(server, "config", lambda app, **options: None)  # uvicorn's logging set-up stays out
    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setattr(logging, "shutdown", lambda *handlers: None)  # pytest's own log handlers stay open
    with pytest.raises(Exited) as exited:
        server.run(object(), host="127.0.0.1", port=free_port(), url="", open_browser=False)
    assert exited.value.args == (code,)
    out = capsys.readouterr()
    assert "studio stopped" in out.out
    assert ("boom" in out.err) == (code == 1)
