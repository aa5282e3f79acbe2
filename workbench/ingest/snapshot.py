"""The static image of a page or document, made inside the fetcher's confinement.

A page is photographed by Debian's headless chromium as it arrived (the raw page, so the
image shows what the site showed; the sanitised text is the other half of the record).
What keeps that safe is the engine and the kernel, not a filter:

- chromium runs in the fetcher child's empty network namespace, as its user, inside its
  memory group, with a throwaway profile in the child's private folder: it can reach no
  address (a page's images, styles, frames and refreshes fail), so the image shows the
  page's own markup and inline styles only;
- the page is served to it by a one-page server on the namespace's own loopback with a
  ``Content-Security-Policy`` that forbids scripts (unless the source turns JavaScript on),
  frames, objects, forms and every fetch but the page's own, and a CSP ``sandbox``; an
  ``http`` origin (not ``file://``) keeps ``file:`` frames and images from showing local
  files;
- with JavaScript on, ``--virtual-time-budget`` lets scripts run for a bounded virtual time.

Chromium's own ``--blink-settings=scriptEnabled=false`` is not used: with it, this
chromium's headless ``--screenshot`` writes no image. The CSP does the same job in the
engine. Images (PNG, JPEG, ...) are decoded and re-encoded as PNG by Pillow, so no byte of
the original picture reaches an analyst's browser; PDF and DOCX files get no image (their
text is the record).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from workbench.ingest.confinement import end_descendants

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 1600)
"""The image shows the first 1280 x 1600 CSS pixels of a page."""
MAX_IMAGE_PIXELS = 40_000_000
"""Pillow refuses larger pictures (a decompression bomb) before decoding them."""
_FLAGS = ("--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
          "--mute-audio", "--deny-permission-prompts", "--disable-features=Translate,MediaRouter")


class NoImage(Exception):
    """Chromium or Pillow could not make the image; the message says why (the record keeps the text)."""


def content_policy(javascript: bool) -> str:
    """The CSP the one-page server sends: the page's own resources, inline styles; scripts only when allowed."""
    scripts = "'unsafe-inline'" if javascript else "'none'"
    sandbox = "sandbox allow-scripts" if javascript else "sandbox"
    return (f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline' 'self'; img-src 'self' data:; "
            f"font-src 'self' data:; connect-src 'none'; frame-src 'none'; child-src 'none'; object-src 'none'; "
            f"form-action 'none'; base-uri 'none'; {sandbox}")


def page_image(body: bytes, content_type: str, javascript: bool, workdir: str, timeout: float) -> bytes:
    """PNG of ``body`` (an HTML page) as headless chromium draws it; ``NoImage`` when it cannot."""
    policy = content_policy(javascript)

    class OnePage(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            found = self.path == "/"
            payload = body if found else b""
            self.send_response(200 if found else 204)  # 204: a refresh or link to anything else leaves the page be
            self.send_header("Content-Type", content_type if found else "text/plain")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), OnePage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = Path(workdir) / "page.png"
    command = [CHROMIUM, *_FLAGS, f"--user-data-dir={workdir}/profile", f"--screenshot={shot}",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    if javascript:
        command.append("--virtual-time-budget=3000")
    if os.geteuid() == 0:  # chromium's own sandbox refuses root; the fetcher's user keeps it on
        command.append("--no-sandbox")
    command.append(f"http://127.0.0.1:{server.server_address[1]}/")
    environment = {"HOME": workdir, "XDG_CONFIG_HOME": workdir, "XDG_CACHE_HOME": workdir, "PATH": "/usr/bin:/bin"}
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment,
                                   cwd=workdir, start_new_session=True)
        try:
            _, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise NoImage(f"chromium did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise NoImage(f"cannot run {CHROMIUM}: {exc}") from None
    finally:
        end_descendants()
        server.shutdown()
        server.server_close()
    if not shot.exists():
        tail = [line for line in errors.decode(errors="replace").splitlines() if "dbus" not in line.lower()]
        raise NoImage(f"chromium exited {process.returncode} without an image: {' | '.join(tail[-3:])[:300]}")
    data = shot.read_bytes()
    shot.unlink()
    return data


def picture(data: bytes, max_side: int = 1600) -> bytes:
    """An image file decoded and re-encoded as a PNG no wider or taller than ``max_side``; ``NoImage`` if unreadable."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((max_side, max_side))
            out = io.BytesIO()
            image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, "PNG")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise NoImage(f"not a picture Pillow can redraw: {type(exc).__name__}: {exc}") from None
    return out.getvalue()


__all__ = ["CHROMIUM", "NoImage", "content_policy", "page_image", "picture"]
