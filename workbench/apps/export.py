"""PNG export of a dashboard view: the Bokeh figure as a static page, photographed by the chromium on the machine.

Bokeh's own ``export_png`` drives a browser through selenium and a separately installed
webdriver, neither of which this deployment has (nor may fetch at run time). The view is
instead written as a standalone HTML page with Bokeh's JavaScript inlined (nothing is
loaded from a CDN) and rendered by Debian's chromium in its headless mode with its
built-in ``--screenshot``; ``--virtual-time-budget`` lets BokehJS finish drawing before
the picture is taken. One short-lived process per export, so nothing stays resident in the
dashboard server; callers run it off the event loop (it takes seconds).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
"""Debian's chromium (the same browser the dashboard tests drive)."""
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


class ExportError(RuntimeError):
    """The browser could not render the view (missing, crashed or timed out); the message says which."""


def standalone_html(obj: Any, title: str) -> str:
    """A HoloViews object (or Bokeh model) as one self-contained HTML page with BokehJS inlined."""
    import holoviews as hv
    from bokeh.embed import file_html
    from bokeh.model import Model
    from bokeh.resources import INLINE

    model = obj if isinstance(obj, Model) else hv.render(obj, backend="bokeh")
    return file_html(model, INLINE, title)


def png_of(obj: Any, width: int, height: int, title: str = "view", timeout: float = 90.0,
           browser: str = CHROMIUM) -> bytes:
    """The PNG of ``obj`` drawn in a ``width`` x ``height`` window; ``ExportError`` when the browser fails."""
    with tempfile.TemporaryDirectory(prefix="wb-png-") as tmp:
        page, shot = Path(tmp) / "view.html", Path(tmp) / "view.png"
        page.write_text(standalone_html(obj, title), encoding="utf-8")
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--screenshot={shot}",
                   f"--window-size={width},{height}", "--virtual-time-budget=15000", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ExportError(f"PNG export: could not run {browser}: {exc}") from exc
        if done.returncode != 0 or not shot.exists():
            raise ExportError(f"PNG export: {browser} exited {done.returncode}: {done.stderr.strip()[-300:]}")
        return shot.read_bytes()
