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
the original picture reaches an analyst's browser. A PDF's first pages are drawn by PDFium
(``pypdfium2``: the PDF engine of chromium, as a library; no script, form or link of the
PDF runs) and re-encoded by Pillow. A DOCX is not drawn from its own markup: its extracted
text, escaped into a plain page, is photographed by the same chromium (``text_page``), so
the image shows what the record's text says, laid out as a page.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from workbench.ingest.confinement import end_descendants

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 1600)
"""The image shows the first 1280 x 1600 CSS pixels of a page."""
MAX_IMAGE_PIXELS = 40_000_000
"""Pillow refuses larger pictures (a decompression bomb) before decoding them."""
PDF_PAGES = 2
"""A PDF's image shows its first pages, one under the other."""
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


def pdf_pages(data: bytes, pages: int = PDF_PAGES, max_side: int = 1600) -> bytes:
    """PNG of a PDF's first ``pages`` pages drawn by PDFium, each scaled to fit ``max_side``; ``NoImage`` if unreadable.

    A page's size comes from the file: the scale is chosen so no page is drawn larger than
    ``max_side`` pixels (a 200-inch page does not become a gigapixel bitmap).
    """
    import pypdfium2 as pdfium
    from PIL import Image

    try:
        document = pdfium.PdfDocument(data)
        try:
            drawn = []
            for index in range(min(pages, len(document))):
                page = document[index]
                width, height = page.get_size()
                scale = min(2.0, max_side / max(width, height, 1.0))
                drawn.append(page.render(scale=scale).to_pil().convert("RGB"))
        finally:
            document.close()
    except (pdfium.PdfiumError, ValueError, OSError) as exc:
        raise NoImage(f"PDFium cannot draw this PDF: {exc}") from None
    if not drawn:
        raise NoImage("the PDF has no page to draw")
    gap = 8  # grey around and between the pages, so a white page shows as a page
    sheet = Image.new("RGB", (max(p.width for p in drawn) + 2 * gap, sum(p.height + gap for p in drawn) + gap),
                      (160, 160, 160))
    top = gap
    for drawn_page in drawn:
        sheet.paste(drawn_page, (gap, top))
        top += drawn_page.height + gap
    out = io.BytesIO()
    sheet.save(out, "PNG")
    return out.getvalue()


def text_image(title: str | None, text: str, language: str | None = None, width: int = 1000,
               max_height: int = 1600) -> bytes:
    """PNG of a document's extracted text laid out as a page, drawn by Pillow (no markup of the source survives).

    Why Pillow and not chromium: the text is all that is drawn, so no HTML engine is needed,
    and a drawing costs ~20 ms against ~3 s of chromium, which matters for a drop of a few
    hundred notes. Chinese is drawn with Noto Sans CJK (installed with chromium by ``make``),
    else DejaVu Sans; a text longer than ``max_height`` ends with an ellipsis.
    """
    from PIL import Image, ImageDraw

    body, heading = _font(22, language), _font(30, language)
    margin, line = 60, 34
    lines: list[tuple[str, Any]] = [(row, heading) for row in _wrap(title or "", heading, width - 2 * margin)]
    lines += [("", body)] if lines else []
    for paragraph in text.splitlines():
        lines += [(row, body) for row in _wrap(paragraph, body, width - 2 * margin)] + [("", body)]
    fits = max(1, (max_height - 2 * margin) // line)
    if len(lines) > fits:
        lines = [*lines[:fits - 1], ("…", body)]
    sheet = Image.new("RGB", (width, min(max_height, 2 * margin + line * len(lines))), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((0, 0, sheet.width - 1, sheet.height - 1), outline=(160, 160, 160))  # the page's edge
    for number, (row, font) in enumerate(lines):
        draw.text((margin, margin + number * line), row, fill=(17, 17, 17), font=font)
    out = io.BytesIO()
    sheet.save(out, "PNG")
    return out.getvalue()


_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]|[^\s\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"
                   r"\uff00-\uffef]+\s*|\s+")
"""Tokens a line may break between: one CJK character, or a word with the spaces after it."""


def _font(size: int, language: str | None) -> Any:
    """The first font found, the Hong Kong face of a CJK collection for Chinese; Pillow's own otherwise."""
    from PIL import ImageFont

    for path in _FONTS:
        if not os.path.exists(path):
            continue
        if path.endswith(".ttc"):
            faces = [ImageFont.truetype(path, size, index=i) for i in range(5)]
            wanted = "HK" if (language or "").startswith("zh") else "JP"
            return next((f for f in faces if f.getname()[0].endswith(wanted)), faces[0])
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrap(paragraph: str, font: Any, width: int) -> list[str]:
    """``paragraph`` cut into lines no wider than ``width`` pixels, between words or CJK characters."""
    rows, row = [], ""
    for token in _WIDE.findall(paragraph):
        if row and font.getlength(row + token.rstrip()) > width:
            rows.append(row.rstrip())
            row = token.lstrip()
        else:
            row += token
    return [*rows, row.rstrip()] if row.strip() else rows


__all__ = ["CHROMIUM", "NoImage", "content_policy", "page_image", "pdf_pages", "picture", "text_image"]
