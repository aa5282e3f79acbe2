"""The first hour, observed from inside a network namespace: ``python -m tests.first_hour_probe OUT.json``.

Run by ``tests/test_first_hour.py`` under ``unshare --net``, so the stack, its kernels,
services and the browser share a namespace whose only way out is a veth link with the
default routes (IPv4 and IPv6) on it and nothing behind it. Any attempt to reach an
outside address (a CDN, a news feed, an update check, a DNS lookup for one) then puts a
frame on that link: an ARP request or an IPv6 neighbour solicitation for the address, or
the packet itself. A raw socket on the link's far end records every such frame from
before the stack starts until every page was used (the link's own IPv6 start-up chatter,
router solicitations, MLD reports and duplicate-address probes, is not an attempt).

Inside: the tiny world's lake, the whole stack (``running_stack``), and a real browser
logging in as every demo account through the hub's form; what each one landed on is
written to OUT.json for the tests to judge (they run outside the namespace).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # The test's own browser asks Google's services (sign-in, autofill, updates) for things
                 # no page asked for; that is the harness, not the stack, so no name resolves for it.
                 # What a page asks for is still seen: every request of every page is recorded.
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
LINK = "wbout"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


GATEWAY_MAC = "02:00:00:00:77:01"


def build_network() -> None:
    """Loopback up; every other destination routed to a veth link through a gateway that is not there.

    The gateway's address is resolved in advance (a permanent neighbour entry), so a packet
    for the outside leaves whole, not as an address resolution: the recorder sees where it
    was going (and, for DNS, which name was asked).
    """
    ip("link", "set", "lo", "up")
    ip("link", "add", LINK, "type", "veth", "peer", "name", LINK + "-peer")
    ip("link", "set", LINK, "up")
    ip("link", "set", LINK + "-peer", "up")
    ip("addr", "add", "10.77.0.2/24", "dev", LINK)
    ip("neigh", "add", "10.77.0.1", "lladdr", GATEWAY_MAC, "dev", LINK, "nud", "permanent")
    ip("route", "add", "default", "via", "10.77.0.1", "dev", LINK)
    ip("-6", "addr", "add", "fd77::2/64", "dev", LINK, "nodad")
    ip("-6", "neigh", "add", "fd77::1", "lladdr", GATEWAY_MAC, "dev", LINK, "nud", "permanent")
    ip("-6", "route", "add", "default", "via", "fd77::1", "dev", LINK)


def dns_name(payload: bytes) -> str:
    """The first question's name of a DNS query."""
    labels, at = [], 12
    while at < len(payload) and payload[at]:
        labels.append(payload[at + 1:at + 1 + payload[at]].decode(errors="replace"))
        at += 1 + payload[at]
    return ".".join(labels)


def attempt(frame: bytes) -> str | None:
    """What outside address a frame leaving the namespace reaches for, or None for the link's own chatter."""
    kind = struct.unpack("!H", frame[12:14])[0]
    body = frame[14:]
    if kind == 0x0806:  # ARP: who has <target>?
        return f"arp {socket.inet_ntoa(body[24:28])}"
    if kind == 0x0800:
        proto, dst, header = body[9], socket.inet_ntoa(body[16:20]), (body[0] & 0x0F) * 4
        port = struct.unpack("!H", body[header + 2:header + 4])[0] if proto in (6, 17) else None
        if proto == 17 and port == 53:
            return f"dns {dst} {dns_name(body[header + 8:])}"
        return f"ipv4 {dst} proto {proto} port {port}"
    if kind == 0x86DD:
        src, dst, nxt = ipaddress.IPv6Address(body[8:24]), ipaddress.IPv6Address(body[24:40]), body[6]
        if nxt == 0 and dst.is_multicast:  # hop-by-hop header: MLD reports on joining the link's groups
            return None
        if nxt == 58:
            icmp = body[40]
            if icmp in (133, 143):  # router solicitation, MLDv2 report
                return None
            if icmp == 135:  # neighbour solicitation: for whom? (from :: = a duplicate-address probe)
                return None if src.is_unspecified else f"ipv6-ns {ipaddress.IPv6Address(body[48:64])}"
        if nxt in (6, 17):
            port = struct.unpack("!H", body[42:44])[0]
            if nxt == 17 and port == 53:
                return f"dns {dst} {dns_name(body[48:])}"
            return f"ipv6 {dst} next {nxt} port {port}"
        return f"ipv6 {dst} next {nxt}"
    return f"ethertype {kind:#06x}"


class Recorder(threading.Thread):
    """Every outside reach seen on the link's far end, while ``recording`` is set."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind((LINK + "-peer", 0))
        self.recording = threading.Event()
        self.seen: list[str] = []

    def run(self) -> None:
        while True:
            frame = self.sock.recv(65535)
            if self.recording.is_set() and (what := attempt(frame)) is not None:
                self.seen.append(what)


def visit(page: Any, base: str, name: str, password: str) -> dict[str, Any]:
    """Log in through the form and wait for where the hub sends ``name``; what the page shows."""
    page.goto(f"{base}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state("load", timeout=120_000)
    return {"url": page.url}


def text_shown(page: Any, text: str, timeout: float = 60.0) -> bool:
    try:
        page.get_by_text(text, exact=False).first.wait_for(timeout=timeout * 1000)
        return True
    except Exception:  # noqa: BLE001 - a Playwright timeout: not shown
        return False


def main(out: Path) -> None:
    build_network()
    from playwright.sync_api import sync_playwright

    from tests.hub_support import running_stack
    from tests.test_platform_stack import load_tiny_world
    from workbench.security.accounts import DEMO_ACCOUNTS

    result: dict[str, Any] = {"accounts": {}, "requests": []}

    recorder = Recorder()
    recorder.start()

    def prepare(root: Path) -> dict[str, Any]:
        fields = load_tiny_world(root)
        recorder.recording.set()  # from here on, the stack and the browser
        return fields

    with running_stack("first", prepare=prepare) as stack, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name in DEMO_ACCOUNTS:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.on("request", lambda request: result["requests"].append(request.url))
            seen = visit(page, stack.url, name, stack.passwords[name])
            role = DEMO_ACCOUNTS[name].value
            if role in ("manager", "field_officer"):
                seen["content"] = text_shown(page, "Risk overview")
            elif role in ("analyst", "modeller"):
                page.wait_for_url("**/lab**", timeout=120_000)
                seen["url"] = page.url
                seen["launcher_tile"] = text_shown(page, "Dashboards")
                listing = page.request.get(f"{stack.url}/user/{name}/api/contents/notebooks").json()
                seen["starters_listed"] = sorted(item["name"] for item in listing["content"])
                home = stack.profile.home_root / f"{stack.prefix}{name}"
                seen["starters"] = sorted(f.name for f in (home / "notebooks").glob("*.ipynb"))
                api = f"{stack.url}/user/{name}/api"
                seen["default_kernel"] = page.request.get(f"{api}/kernelspecs").json()["default"]
                if role == "analyst":  # a kernel of the default kind starts and answers, in here too
                    page.goto(f"{stack.url}/user/{name}/lab/tree/notebooks/01_first_steps.ipynb")
                    seen["kernel_idle"] = text_shown(page, "Customs Workbench | Idle", timeout=120)
                seen["news_prompt"] = text_shown(page, "Jupyter news", timeout=3)
            else:  # admin
                seen["users_listed"] = text_shown(page, "field-officer")
                frame = page.frame_locator("#workbench-security-events")
                try:
                    frame.get_by_text("Security events").first.wait_for(timeout=60_000)
                    seen["security_events"] = True
                except Exception:  # noqa: BLE001
                    seen["security_events"] = False
            seen["forbidden"] = text_shown(page, "403", timeout=1) or text_shown(page, "not available", timeout=1)
            page.screenshot(path=str(out.parent / f"{name}.png"), full_page=True)
            result["accounts"][name] = seen
            context.close()
        browser.close()
        result["outside"] = sorted(set(recorder.seen))
        result["hub"] = stack.url
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
