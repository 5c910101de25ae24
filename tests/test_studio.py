"""neuroart studio's server: every route, bad requests, static-file confinement, Save's folder, CSP."""

from __future__ import annotations

import asyncio
import base64
import io
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


def test_dream_restyle_similar_morph_generate_atlas(client):
    r = client.post("/api/dream", json={"image": ONE, "digit": 7, "steps": 60, "frames": 6, "seed": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["frames"]) >= 6 and len(body["image"]) == 784
    assert body["gif"].startswith("data:image/gif;base64,")
    assert base64.b64decode(body["gif"].split(",", 1)[1])[:6] == b"GIF89a"

    r = client.post("/api/restyle", json={"image": SEVEN})
    assert r.status_code == 200, r.text
    assert r.json()["digits"] == list(range(10)) and len(r.json()["images"]) == 10

    r = client.post("/api/similar", json={"image": SEVEN, "n": 4, "spread": 0.3})
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 4

    r = client.post("/api/morph", json={"image": ONE, "image_b": SEVEN, "frames": 5})
    assert r.status_code == 200, r.text
    assert len(r.json()["frames"]) == 5 and r.json()["gif"].startswith("data:image/gif")

    r = client.post("/api/generate", json={"digit": 3, "n": 3, "seed": 2})
    assert r.status_code == 200, r.text
    assert len(r.json()["images"]) == 3

    r = client.get("/api/atlas")
    assert r.status_code == 200
    assert r.json()["units"] == 128 and len(r.json()["images"]) == 128 and len(r.json()["images"][5]) == 784


def test_save_writes_only_into_the_save_dir_with_a_recipe(client):
    from neuroart.outputs import read_recipe

    save_dir: Path = client.save_dir
    outside = sorted(p.name for p in save_dir.parent.iterdir())
    # a request cannot name a file or a folder
    for extra in ({"out": "/tmp/x.png"}, {"path": "../evil.png"}, {"name": "x"}, {"save_dir": "/tmp"}):
        r = client.post("/api/save", json={"image": SEVEN, "kind": "dream", "digit": 3, **extra})
        assert r.status_code == 400 and "unknown option" in r.json()["error"]
    for kind in ("../../evil", "/etc/passwd", "dream/../../x"):
        r = client.post("/api/save", json={"image": SEVEN, "kind": kind})
        assert r.status_code == 400
    r = client.post("/api/save", json={"image": SEVEN, "kind": "dream", "digit": 3, "steps": 40})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["files"] == ["drawing-0001.png", "dream-0001.png"] and Path(body["folder"]) == save_dir.resolve()
    recipe = read_recipe(save_dir / "dream-0001.png")
    assert recipe["argv"][:2] == ["dream", "3"] and str(save_dir.resolve() / "drawing-0001.png") in recipe["argv"]
    assert (save_dir / "drawing-0001.png").read_bytes() == base64.b64decode(SEVEN.split(",", 1)[1])
    r = client.post("/api/save", json={"image": ONE, "kind": "restyle"})
    assert r.status_code == 200, r.text
    assert r.json()["picture"] == "restyle-0002.png" and read_recipe(save_dir / "restyle-0002.png")["argv"][0] == "restyle"
    assert sorted(p.name for p in save_dir.parent.iterdir()) == outside  # nothing written beside the folder
    assert all(p.parent == save_dir for p in save_dir.rglob("*"))


def test_saved_pictures_replay_byte_identical(client, tmp_path):
    """`neuroart replay` re-runs a Save's recipe (on the saved drawing) and writes the same bytes."""
    from click.testing import CliRunner

    from neuroart.cli import main

    r = client.post("/api/save", json={"image": ZERO, "kind": "dream", "digit": 6, "steps": 30, "seed": 5})
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
    for route, body in (("/api/classify", {"image": ONE}), ("/api/dream", {"image": ONE, "digit": 2, "steps": 20, "frames": 2}),
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

    import uvicorn

    import neuroart.studio.app as studio_app

    made = {}

    def create_app(**kw):
        made.update(kw)
        return types.SimpleNamespace(state=types.SimpleNamespace(studio=types.SimpleNamespace(save_dir=tmp_path)))

    class Server:  # uvicorn's Config would point its loggers at the runner's temporary stderr
        def __init__(self, config):
            self.started = self.should_exit = False

        def run(self):
            pass

    monkeypatch.setattr(studio_app, "create_app", create_app)
    monkeypatch.setattr(uvicorn, "Config", lambda *a, **k: None)
    monkeypatch.setattr(uvicorn, "Server", Server)
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
