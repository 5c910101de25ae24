"""The studio's settings: every limit, default and header in one place (no Starlette, no TensorFlow).

What a request may ask (`LIMITS`), what the page is told (`page_settings`), how much work the
server takes on at once (`HEAVY_SLOTS`, `MAX_CONNECTIONS`), and the headers on every answer.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"

# -- requests
MAX_BODY = 4 * 1024 * 1024  # bytes of one request body (a drawing is ~10-50 kB)
SMALL_BODY = 256 * 1024  # bodies up to this size (every live drawing) never wait for a heavy slot
HEAVY_SLOTS = 2  # larger bodies read, parsed and decoded at once; the others wait their turn
BODY_SECONDS = 30.0  # a request body must arrive within this time
MAX_PIXELS = 4096 * 4096  # an uploaded image larger than this is refused before decoding
BIG_PIXELS = 512 * 512  # larger pictures (the page sends 112x112) are decoded HEAVY_SLOTS at a time
IMAGE_FORMATS = ("PNG", "JPEG")  # what uploads may be: one still picture (the page sends PNG)
MAX_ECHO = 40  # characters of a request's value repeated in an error message

# -- the server (uvicorn)
MAX_HEAD = 32 * 1024  # bytes of a request line and headers
HEAD_SECONDS = 10.0  # a connection must send a complete request head within this time
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this time
MAX_CONNECTIONS = 256  # connections beyond this are closed at once
MAX_TASKS = 256  # requests in progress beyond this are answered 503
SHUTDOWN_SECONDS = 3  # Ctrl-C: requests in progress get this long to finish

# -- what the page does
HIDDEN_LAYER = "dense"  # the article MLP's 128 hidden units
HIDDEN_COLUMNS = 16  # the page draws them as a heat map this many units wide
#: The studio's limits on work per request (the library allows more; the page stays responsive).
LIMITS = {"dream_steps": 400, "frames": 60, "n": 64}
#: The live overlay while drawing: the plain gradient (one backward pass; with the convnet reader,
#: Integrated Gradients even with 4 steps costs 2.5x as much per digit). When the pen lifts the
#: page asks /api/explain for the library's default map (Integrated Gradients).
LIVE_METHOD, LIVE_STEPS = "gradient", 4
#: Steps of "dream it into": None, the flow's own (the bundled few-step flow samples only on its
#: grid and refuses other steps; a request may still ask for steps with a flow that takes them).
DREAM_STEPS = None
#: "Dream it into": the flow model, steered by the article's MLP, from the drawing noised back by
#: `strength` (SDEdit), keeping the drawing's slant and stroke width (`hand`, docs/flow.md).
#: On the few-step flow the dream starts from noise (strength 1) and the hand term alone keeps the
#: drawing's slant and stroke width: 100 real test digits (other writers than the training set's),
#: each into the next digit: read as the target by the cnn 100%, slant r 0.98, stroke width r 0.88,
#: 0.11 s a request once warm; 40 drawn digits: 100%, 0.96, 0.87. (Strength 0.9, hand 1: real
#: digits 100%, 0.90, 0.95 but drawn ones 0.85, 0.51; strength 0.7 starts the 4-step grid at
#: t = 0.36 and reads only 62-71% as the target.)
#: The steering's gradient is taken through the flow ("flow"): with the cheaper "clean" the same
#: 100 real digits read 93-96% as the target, slant r 0.68-0.88, stroke width r 0.59-0.74
#: (steer 1-5, hand 3-10; 0.06 s a request), so the hand is lost.
DREAM_OPTIONS = {"prior": "flow", "strength": 1.0, "steer": 20.0, "hand": 3.0, "gradient": "flow"}
DREAM_FRAMES = 24
MORPH_FRAMES = 12
SIMILAR_N = 8
SAVE_KINDS = ("dream", "restyle", "morph")
#: The neuron atlas: each hidden unit's dream through the few-step flow (unconditional, steered
#: by the unit at the predicted clean digit, the "clean" steering: a unit's pattern needs new ink,
#: which the class dream's "ink" does not draw): handwriting that the unit likes, each unit's own
#: activation about 3x its mean over the atlas (steer 2; 1: 2x; 3: 4x, with a haze around some).
#: The units are an input of one compiled steering: 128 units, two batches, take seconds.
ATLAS_OPTIONS = {"prior": "flow", "steer": 2.0}

# -- every answer
#: Nothing from outside: scripts, styles, fonts, connections only from the app itself.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
       "connect-src 'self'; media-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def page_settings() -> dict:
    """What the page reads from ``/api/info`` instead of hard-coding it."""
    return {"limits": {**LIMITS, "body_bytes": MAX_BODY},
            "dream": {"steps": DREAM_STEPS, "frames": DREAM_FRAMES},
            "morph": {"frames": MORPH_FRAMES}, "similar": {"n": SIMILAR_N}}
