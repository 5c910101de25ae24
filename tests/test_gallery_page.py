"""Open gallery/index.html in a real headless Chromium: every image loads, no link is broken.

The page is served from the repository over loopback HTTP. A small harness page frames it,
waits for it to load, checks each <img>'s naturalWidth and fetches each link, and writes the
verdict into its own DOM, which Chromium prints with --dump-dom. A screenshot is saved too.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

HARNESS = """<!doctype html><html><body><pre id="verdict">pending</pre>
<iframe id="f" src="/gallery/index.html" width="1200" height="900"></iframe>
<script>
const frame = document.getElementById('f');
frame.addEventListener('load', async () => {
  const doc = frame.contentDocument;
  await Promise.all([...doc.images].map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })));
  const images = [...doc.images].map(i => ({src: i.getAttribute('src'), width: i.naturalWidth}));
  const links = [];
  for (const a of doc.querySelectorAll('a[href]')) {
    const url = new URL(a.getAttribute('href'), frame.contentWindow.location.href);
    let status = 0;
    try { status = (await fetch(url, {method: 'HEAD'})).status; } catch (e) { status = -1; }
    links.push({href: a.getAttribute('href'), status});
  }
  document.getElementById('verdict').textContent = JSON.stringify({images, links, title: doc.title});
});
</script></body></html>"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/__harness.html":
            body = HARNESS.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(ROOT)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _chromium(args, tmp_path):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (.ci/run installs it)")
def test_gallery_page_in_headless_chromium(server, tmp_path):
    index = ROOT / "gallery" / "index.html"
    assert index.is_file(), "run `neuroart gallery` to make gallery/index.html"
    out = _chromium(["--virtual-time-budget=15000", "--dump-dom", f"{server}/__harness.html"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout.split('<pre id="verdict">', 1)[1].split("</pre>", 1)[0]
    assert text != "pending", "the gallery page did not finish loading"
    verdict = json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))
    assert verdict["title"] == "neuroart gallery"
    assert len(verdict["images"]) >= 9, verdict["images"]
    broken = [i["src"] for i in verdict["images"] if i["width"] <= 0]
    assert not broken, f"images that did not load: {broken}"
    dead = [link for link in verdict["links"] if link["status"] != 200]
    assert not dead, f"broken links: {dead}"

    shot = tmp_path / "gallery.png"
    out = _chromium(["--window-size=1200,2400", "--hide-scrollbars", f"--screenshot={shot}",
                     f"{server}/gallery/index.html"], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000, out.stderr[-2000:]
    keep = ROOT / ".pytest_cache" / "gallery-screenshot.png"
    keep.parent.mkdir(exist_ok=True)
    shutil.copy(shot, keep)
