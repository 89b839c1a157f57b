"""Local mode's first start gives a newcomer the console: ``gongkai serve`` (what
``scripts/start.sh`` runs) creates the first administrator and prints how to sign in."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.integration.test_cli import gongkai

ENV = {"GONGKAI_MATCHER__EMBEDDINGS": "false"}
ACCOUNT = re.compile(r"账号 (\S+)   初始密码 (\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(cwd: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    """Start ``gongkai serve`` and return it with its banner, once it answers /healthz."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGKAI_")}
    server = subprocess.Popen(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**base, **ENV},
        cwd=cwd,
    )
    assert server.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "接入真实公众号" in line:  # the banner's last line
            break
    return server, "".join(lines)


def stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=30)
    if server.stdout is not None:
        server.stdout.close()


async def sign_in(port: int, name: str, password: str) -> str:
    """Sign in through the page as a browser would; the page we land on."""
    base = f"http://127.0.0.1:{port}"
    # unsafe=True: the default jar keeps no cookies from an IP address such as 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(100):  # the banner is printed before the port is open
            try:
                async with http.get(f"{base}/console/login") as page:
                    form = await page.text()
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.2)
        token = re.search(r'name="_csrf" value="([^"]+)"', form)
        assert token, "the sign-in form carries no CSRF token"
        data = {"_csrf": token.group(1), "name": name, "password": password}
        async with http.post(f"{base}/console/login", data=data) as landed:
            return f"{landed.url.path} {await landed.text()}"


async def test_first_start_creates_an_admin_who_can_sign_in(tmp_path: Path) -> None:
    port = free_port()
    server, banner = start(tmp_path, port)
    try:
        assert f"http://127.0.0.1:{port}/console/" in banner
        found = ACCOUNT.search(banner)
        assert found, banner
        name, password = found.groups()
        assert name == "管理员"
        assert len(password) >= 10
        landed = await sign_in(port, name, password)
        assert landed.split()[0] not in ("/console/login", "/console/")  # signed in, in a page
        assert "管理员（管理员）" in landed
    finally:
        stop(server)
    kept = tmp_path / ".gongkai" / "console-admin.json"
    assert kept.stat().st_mode & 0o077 == 0  # private to this user

    # The second start creates no other account and still shows how to sign in.
    server, banner = start(tmp_path, port)
    stop(server)
    again = ACCOUNT.search(banner)
    assert again is not None
    assert again.groups() == (name, password)
    listing = gongkai("user", "list", env=ENV, cwd=tmp_path)
    assert "管理员" in listing.stdout
    assert "撰稿人" not in listing.stdout  # no other account was made

    # Once the password is changed the banner no longer prints the old one.
    changed = gongkai(
        "user", "set", name, "--password-stdin", stdin="Xinmima20261206\n", env=ENV, cwd=tmp_path
    )
    assert changed.returncode == 0, changed.stderr
    server, banner = start(tmp_path, port)
    stop(server)
    assert password not in banner
    assert "初始密码已修改" in banner
