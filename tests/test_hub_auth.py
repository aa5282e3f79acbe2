"""The dashboards service's hub OAuth: logins that run side by side in one browser both finish.

The real flow through the hub is exercised by the first-hour test (the admin page's two
dashboards frames sign in at once); here the state-cookie rules themselves.
"""

from __future__ import annotations

from unittest.mock import Mock

from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.web import Application, RequestHandler

from workbench.apps.hub_auth import SideBySideOAuth

APP = Application(cookie_secret="x" * 32)


def handler(uri: str, cookies: dict[str, str] | None = None) -> RequestHandler:
    headers = HTTPHeaders({"Host": "127.0.0.1:8000"})
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    request = HTTPServerRequest(start_line=RequestStartLine("GET", uri, "HTTP/1.1"), headers=headers,
                                connection=Mock())
    return RequestHandler(APP, request)


def set_cookies(h: RequestHandler) -> dict[str, str]:
    """name -> raw Set-Cookie value of what ``h`` would send."""
    return {name: morsel.OutputString() for name, morsel in h._new_cookie.items()}  # type: ignore[attr-defined]


def auth() -> SideBySideOAuth:
    return SideBySideOAuth(api_token="t", oauth_client_id="service-dashboards",
                           base_url="/services/dashboards/", cookie_options={"samesite": "Lax"})


def test_two_logins_at_once_each_keep_their_own_state_cookie() -> None:
    oauth = auth()
    first, second = handler("/services/dashboards/login"), handler("/services/dashboards/login")
    state_a = oauth.set_state_cookie(first, next_url="/services/dashboards/security-events")
    state_b = oauth.set_state_cookie(second, next_url="/services/dashboards/devices")
    name_a, name_b = oauth.get_state_cookie_name(state_a), oauth.get_state_cookie_name(state_b)
    assert name_a != name_b and name_a.startswith(oauth.state_cookie_name)
    assert list(set_cookies(first)) == [name_a] and list(set_cookies(second)) == [name_b]
    cookie = set_cookies(first)[name_a]
    assert "HttpOnly" in cookie and "Path=/services/dashboards/" in cookie and "SameSite=Lax" in cookie
    assert oauth.get_next_url(state_b) == "/services/dashboards/devices"


def test_a_callback_clears_only_its_own_state_cookie() -> None:
    oauth = auth()
    state_a = oauth.set_state_cookie(handler("/login"), next_url=None)
    state_b = oauth.set_state_cookie(handler("/login"), next_url=None)
    name_a, name_b = oauth.get_state_cookie_name(state_a), oauth.get_state_cookie_name(state_b)
    callback = handler(f"/services/dashboards/oauth_callback?code=c&state={state_a}", {name_a: "1", name_b: "2"})
    oauth.clear_oauth_state_cookies(callback)
    cleared = set_cookies(callback)
    assert list(cleared) == [name_a], cleared  # the other login's cookie stays for its own callback
    assert cleared[name_a].startswith(f'{name_a}=""; expires='), cleared  # expired now
