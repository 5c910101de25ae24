"""neuroart studio in a real browser: Debian's chromium driven by Playwright (no downloaded browser).

Draws a 1, a 7 and a 0 with pointer events and checks the page reads them; dreams, restyles and
saves; takes screenshots at laptop and phone sizes (``NEUROART_SCREENSHOTS=DIR`` keeps them there).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("uvicorn")
    from conftest import serving

    from neuroart.studio.app import create_app

    save_dir = tmp_path_factory.mktemp("studio-browser") / "saves"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(save_dir=save_dir, allowed_hosts=["127.0.0.1", "localhost"])
    with serving(app, port):
        app.state.studio.ready.wait(90)  # dream, restyle and the neuron atlas ready
        yield f"http://127.0.0.1:{port}", save_dir


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


STROKES = {  # in units of the pad's side (0..1)
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "7": [[(0.25, 0.18), (0.75, 0.18), (0.42, 0.85)]],
    "0": [[(0.5 + 0.22 * __import__("math").sin(a / 20 * 6.2832), 0.5 - 0.32 * __import__("math").cos(a / 20 * 6.2832))
           for a in range(21)]],
}


def draw(page, digit: str):
    box = page.locator("#pad").bounding_box()
    for stroke in STROKES[digit]:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
        page.mouse.down()
        for (xa, ya), (xb, yb) in zip(stroke[:-1], stroke[1:], strict=True):
            for k in range(1, 6):  # several pointermove events per segment
                t = k / 5
                page.mouse.move(box["x"] + (xa + t * (xb - xa)) * box["width"],
                                box["y"] + (ya + t * (yb - ya)) * box["height"])
        page.mouse.up()


def read_digit(page, digit: str):
    from playwright.sync_api import expect

    expect(page.locator("#answer")).to_have_text(digit, timeout=10_000)


@pytest.mark.parametrize("size", [(1280, 860), (390, 844)], ids=["laptop", "phone"])
def test_draw_read_dream_restyle_save(server, browser, size, tmp_path):
    from playwright.sync_api import expect

    url, save_dir = server
    shots = Path(os.environ.get("NEUROART_SCREENSHOTS") or tmp_path)
    page = browser.new_page(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1)
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url + "/")
    expect(page.locator("#status")).to_have_text("draw a digit", timeout=15_000)
    expect(page.locator("#gif")).to_be_hidden()  # nothing to download yet (issue 25: .button's display showed it)

    if size[0] < 600:
        phone_flow(page, save_dir)
    else:
        laptop_flow(page, save_dir, tmp_path)

    page.screenshot(path=str(shots / f"studio-{'phone' if size[0] < 600 else 'laptop'}.png"), full_page=True)
    assert not problems, problems
    outside = [u for u in requests if not u.startswith(url) and not u.startswith(("data:", "blob:"))]
    assert not outside, outside
    page.close()


def laptop_flow(page, save_dir, tmp_path):
    """Read a 1, a 7 and a 0, an image file; a unit's dream; dream a 7 into a 3; restyle; save."""
    import re

    from playwright.sync_api import expect

    from neuroart.outputs import read_recipe

    for digit in ("1", "7", "0"):
        page.click("#clear")
        draw(page, digit)
        read_digit(page, digit)

    # an image file (dark ink on light paper, like a scan) goes under the pad and is read too
    from PIL import Image, ImageDraw

    scan = Image.new("RGB", (300, 400), (235, 232, 220))
    ImageDraw.Draw(scan).line([(150, 60), (150, 340)], fill=(30, 30, 60), width=18)
    scan.save(tmp_path / "scan.jpg")
    page.click("#clear")
    page.set_input_files("#file", str(tmp_path / "scan.jpg"))
    read_digit(page, "1")

    page.click("#clear")
    draw(page, "7")
    read_digit(page, "7")
    page.locator("#hidden").hover()  # a unit's dream from the atlas
    expect(page.locator("#unit-label")).to_have_text(re.compile(r"^unit \d+"), timeout=30_000)

    page.click("#dream-3")
    expect(page.locator("#stage-label")).to_have_text(re.compile("^dreamed into 3"), timeout=20_000)
    assert page.locator("#gif").get_attribute("href").startswith("data:image/gif;base64,")
    expect(page.locator("#gif")).to_be_visible()
    page.wait_for_timeout(2000)  # the animation plays to its last frame

    page.click("#restyle")
    expect(page.locator("#strip figure")).to_have_count(10, timeout=20_000)

    page.click("#save")
    expect(page.locator("#saved")).to_have_text(re.compile("^saved "), timeout=30_000)
    picture = page.locator("#saved").text_content().split("saved ", 1)[1].split(" ")[0]
    recipe = read_recipe(save_dir / picture)
    assert recipe and recipe["argv"][0] == "restyle" and page.locator("#saved code").text_content() == recipe["command"]


def phone_flow(page, save_dir):
    """Keep a 1 as A, draw a 7, morph A into it, save the morph (its recipe names both drawings)."""
    import re

    from playwright.sync_api import expect

    from neuroart.outputs import read_recipe

    draw(page, "1")
    read_digit(page, "1")
    page.click("#keep")
    expect(page.locator("#morph")).to_be_enabled()
    page.click("#clear")
    draw(page, "7")
    read_digit(page, "7")
    page.click("#morph")
    expect(page.locator("#stage-label")).to_have_text(re.compile("^morph 1 → 7"), timeout=20_000)
    frames = page.evaluate("fetch('/api/info').then((r) => r.json())")["morph"]["frames"]
    expect(page.locator("#strip figure")).to_have_count(frames)  # the server's default, not the page's
    page.wait_for_timeout(1500)
    page.click("#save")
    expect(page.locator("#saved")).to_have_text(re.compile("^saved morph-"), timeout=30_000)
    picture = page.locator("#saved").text_content().split("saved ", 1)[1].split(" ")[0]
    recipe = read_recipe(save_dir / picture)
    assert recipe["argv"][0] == "morph" and sum(a.endswith(".png") and "drawing-" in a for a in recipe["argv"]) == 2
