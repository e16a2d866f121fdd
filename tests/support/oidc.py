"""A real OpenID provider for the tests: deploy/local/oidc/provider.mjs (npm's OpenID Certified
`oidc-provider`) started on loopback once per test session, installed first if missing
(`npm ci`, as `make install` does). Its signing key is made here, so that a test can sign a
token with the provider's own key (an expired one) as well as with another key.

    def test_x(identity_provider, sso_services):
        with httpx.Client(base_url=sso_services.url) as c:
            sign_in(c, "alex")                    # through the provider's login form
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from simulation.ports import free_port
from tests.support.services import ROOT, Services, running_services
from tests.support.stack import Stack

PROVIDER_DIR = ROOT / "deploy" / "local" / "oidc"
USERS = json.loads((PROVIDER_DIR / "users.json").read_text())
CLIENT_ID, CLIENT_SECRET = "ledger", "test-client-secret-not-for-production"
GROUPS = {
    "LEDGER_OIDC_FINANCE_GROUPS": "ledger-finance",
    "LEDGER_OIDC_ACCOUNT_MANAGER_GROUPS": "ledger-account-managers",
    "LEDGER_OIDC_ADMIN_GROUPS": "ledger-admins",
}


@dataclass
class IdentityProvider:
    issuer: str
    key: RSAKey
    """The provider's own signing key (private)."""
    users_file: Path
    proc: subprocess.Popen[bytes]

    def api_env(self) -> dict[str, str]:
        """The settings of an API process that signs people in through this provider."""
        return {
            "LEDGER_OIDC_ISSUER": self.issuer,
            "LEDGER_OIDC_CLIENT_ID": CLIENT_ID,
            "LEDGER_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "LEDGER_OIDC_SCOPES": "openid profile email groups",
            **GROUPS,
        }

    def set_groups(self, login: str, groups: list[str] | None) -> None:
        """What the provider says of `login`'s groups from their next sign-in (None: no claim)."""
        users = json.loads(self.users_file.read_text())
        if groups is None:
            users[login].pop("groups", None)
        else:
            users[login]["groups"] = groups
        self.users_file.write_text(json.dumps(users))


def _installed() -> None:
    """`npm ci` of deploy/local/oidc when its node_modules is missing (a clean machine)."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm (Node.js >= 20) is needed for the test OpenID provider: make install"
    subprocess.run(
        [npm, "ci", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )


def _start_provider(
    folder: Path, key: RSAKey, port: int, issuer: str, name: str
) -> subprocess.Popen[bytes]:
    """provider.mjs on 127.0.0.1:`port` naming itself `issuer`, with `key` and the users of
    `folder`/users.json; returns once its discovery document answers (on its own port)."""
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    log = ROOT / "var" / "log" / f"test-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["node", str(PROVIDER_DIR / "provider.mjs")],
            env={
                **os.environ,
                "OIDC_PORT": str(port),
                "OIDC_ISSUER": issuer,
                "OIDC_USERS_FILE": str(folder / "users.json"),
                "OIDC_JWKS_FILE": str(jwks),
                "OIDC_CLIENT_ID": CLIENT_ID,
                "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            },
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"the OpenID provider exited; see {log}"
        try:
            url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
            if httpx.get(url, timeout=2).is_success:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the OpenID provider did not start; see {log}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256", "use": "sig"})


@contextlib.contextmanager
def _running_provider(
    tmp_path_factory: pytest.TempPathFactory, name: str, key: RSAKey, port: int, issuer: str
) -> Iterator[IdentityProvider]:
    """A real provider on `port` naming itself `issuer`, signing with `key`, its users USERS in
    a folder of its own (logging to var/log/test-<name>.log); stopped at the end."""
    _installed()
    folder = tmp_path_factory.mktemp(name)
    (folder / "users.json").write_text(json.dumps(USERS))
    proc = _start_provider(folder, key, port, issuer, name)
    try:
        yield IdentityProvider(issuer, key, folder / "users.json", proc)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def identity_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    key, port = _new_key(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    with _running_provider(tmp_path_factory, "oidc-provider", key, port, issuer) as provider:
        yield provider


Tamper = Callable[[dict[str, Any]], dict[str, Any]]


class TokenTamperer:
    """An attacker between the app and a real provider: an HTTP proxy that passes everything
    through, except that `tamper` (when set) rewrites the claims of the ID token in the token
    endpoint's answer, and `sign_with` (when set) re-signs it with that key instead of the
    provider's. The provider names the proxy as its issuer, so the app talks only to it."""

    def __init__(self, target_port: int, provider_key: RSAKey) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.provider_key = provider_key
        self.tamper: Tamper | None = None
        self.sign_with: RSAKey | None = None
        self.tampered = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), self._handler())
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _rewrite(self, body: bytes) -> bytes:
        answer = json.loads(body)
        if (self.tamper is None and self.sign_with is None) or "id_token" not in answer:
            return body
        token = jwt.decode(answer["id_token"], self.provider_key)
        claims = self.tamper(dict(token.claims)) if self.tamper else dict(token.claims)
        key = self.sign_with or self.provider_key
        answer["id_token"] = jwt.encode(dict(token.header), claims, key)
        self.tampered += 1
        return json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                # The Host header is kept: the provider writes its URLs for the host asked for.
                skip = {"content-length", "connection", "accept-encoding"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                with httpx.Client(timeout=30) as client:
                    r = client.request(
                        self.command, proxy.target + self.path, headers=headers, content=body
                    )
                content = r.content
                if self.path.startswith("/token") and r.status_code == 200:
                    content = proxy._rewrite(content)
                self.send_response(r.status_code)
                for k, v in r.headers.multi_items():
                    if k.lower() not in {"content-length", "transfer-encoding", "connection",
                                         "content-encoding", "keep-alive"}:  # fmt: skip
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward

        return Handler


@dataclass
class TamperedProvider:
    provider: IdentityProvider
    proxy: TokenTamperer


@pytest.fixture(scope="module")
def tampered_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TamperedProvider]:
    """A second real provider that the app reaches only through a TokenTamperer."""
    key, port = _new_key(), free_port()
    proxy = TokenTamperer(port, key)
    issuer = f"http://127.0.0.1:{proxy.port}"
    name = "oidc-provider-tampered"
    with _running_provider(tmp_path_factory, name, key, port, issuer) as provider:
        proxy.thread.start()
        try:
            yield TamperedProvider(provider, proxy)
        finally:
            proxy.server.shutdown()
            proxy.server.server_close()


@pytest.fixture(scope="module")
async def sso_services(
    ready_stack: Stack, identity_provider: IdentityProvider
) -> AsyncIterator[Services]:
    """Writer, projector, risk agent and an API that signs people in through the provider
    (streams re-check their session every second)."""
    env = {**identity_provider.api_env(), "LEDGER_STREAM_TOKEN_CHECK_S": "1"}
    async with running_services(ready_stack, env_of={"api": env}) as svc:
        yield svc


_FORM_ACTION = re.compile(r'action="(/interaction/[^"]+/login)"')


def provider_login(client: httpx.Client, login_page: httpx.Response, login: str) -> httpx.Response:
    """Fills in the provider's login form (on `login_page`) as `login`; the answer is the
    redirect back to the app's callback, not yet followed."""
    action = _FORM_ACTION.search(login_page.text)
    assert action, f"no login form on {login_page.url}: {login_page.text[:300]}"
    url = login_page.url.copy_with(path=action.group(1), query=None)
    r = client.post(str(url), data={"login": login, "password": USERS[login]["password"]})
    # The provider answers with its own redirects (resume, then to the redirect URI).
    while r.is_redirect and "/auth/callback" not in r.headers["location"]:
        r = client.get(_next_url(r))
    assert r.is_redirect, f"the provider did not send the browser back: {r.status_code} {r.text}"
    return r


def _next_url(r: httpx.Response) -> str:
    """Where a redirect goes, a relative Location read against the answering server."""
    return str(r.url.join(r.headers["location"]))


def start_sign_in(client: httpx.Client, next_path: str = "/") -> httpx.Response:
    """GET /auth/sign-in and follow to the provider's login page."""
    r = client.get("/auth/sign-in", params={"next": next_path})
    assert r.status_code == 302, r.text
    page = client.get(r.headers["location"])
    while page.is_redirect:
        page = client.get(_next_url(page))
    assert page.status_code == 200, page.text
    return page


def sign_in(client: httpx.Client, login: str, next_path: str = "/") -> httpx.Response:
    """The whole sign-in as a browser does it; returns the app's answer to the callback."""
    back = provider_login(client, start_sign_in(client, next_path), login)
    return client.get(back.headers["location"])


def csrf_of(client: httpx.Client) -> str:
    r = client.get("/v1/session")
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf_token"]
    return token


def person(login: str) -> dict[str, Any]:
    """The test user `login` as the provider knows them (sub, name, email, groups)."""
    user: dict[str, Any] = USERS[login]
    return user
