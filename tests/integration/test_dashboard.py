"""The web dashboard in a real browser: headless Chromium (Debian's package) loads each page of a
node of a running 3-node cluster, and the rendered DOM is checked. Screenshots of every page are kept
in ``test-artifacts/dashboard/`` (``P2PDB_TEST_ARTIFACTS`` chooses the directory)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.cluster import NodeProcess, free_port, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "dashboard-token-1234"
ARTIFACTS = Path(os.environ.get("P2PDB_TEST_ARTIFACTS", "test-artifacts")) / "dashboard"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (scripts/test installs Debian's chromium)",
)


def browse(url: str, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` once its scripts ran (and a screenshot of it, if asked)."""
    assert CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--virtual-time-budget=5000", "--window-size=1280,1000"]  # fmt: skip
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        shot = subprocess.run(
            [*base, f"--screenshot={screenshot}", url], capture_output=True, timeout=90, check=False
        )
        assert shot.returncode == 0, shot.stderr[-2000:]
    result = subprocess.run(
        [*base, "--dump-dom", url], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def text_of(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', dom, re.S)
    assert match is not None, f"no #{element_id} in the page"
    return match.group(1)


def rows_of(dom: str, table_id: str) -> int:
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', dom, re.S)
    return 0 if match is None else match.group(1).count("<tr>") - 1  # minus the header row


def test_every_dashboard_page_renders_what_the_api_says(tmp_path: Path) -> None:
    a_dir = tmp_path / "a"
    a_dir.mkdir()
    (a_dir / "config.json").write_text(json.dumps({"http_token": TOKEN}))
    a = NodeProcess(a_dir, ["--http-port", str(free_port())]).start()
    nodes = [a]
    try:
        for name in ("b", "c"):
            nodes.append(
                NodeProcess(
                    tmp_path / name, ["--http-port", str(free_port()), "--bootstrap", a.p2p_address]
                ).start()
            )
        b, c = nodes[1], nodes[2]
        a.query("CREATE DATABASE shop")
        a.query("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))", "shop")
        a.query("INSERT INTO items VALUES (1, 'apple'), (2, 'pear')", "shop")
        wait_until(lambda: all(n.query("SHOW DATABASES LIKE 'shop'") and len(n.query("SELECT * FROM items", "shop")) == 2
                               for n in (b, c)), 30, "the rows everywhere")  # fmt: skip
        # A conflict record: c writes key 3 while it is away, so does a; they meet again.
        assert c.stop() == 0
        a.query("INSERT INTO items VALUES (3, 'from a')", "shop")
        c.args = [arg for arg in c.args if arg != a.p2p_address and arg != "--bootstrap"]
        c.p2p_port = free_port()  # a new address: a does not redial it
        c.start()
        c.query("INSERT INTO items VALUES (3, 'from c')", "shop")
        assert c.stop() == 0
        c.args += ["--bootstrap", a.p2p_address]
        # A port the harness picked and let go is free only until something else takes it; c's
        # address does not matter from here on, so do not ask for the same port after the stop.
        c.p2p_port = free_port()
        c.start()
        conflicts = f"http://{a.http_address}/v1/conflicts/shop"
        request = urllib.request.Request(conflicts, headers={"Authorization": f"Bearer {TOKEN}"})
        wait_until(lambda: json.loads(urllib.request.urlopen(request, timeout=5).read())["conflicts"], 30,
                   "the conflict record on a")  # fmt: skip
        b.query("UPDATE items SET name = 'APPLE' WHERE id = 1", "shop")
        wait_until(
            lambda: a.query("SELECT name FROM items WHERE id = 1", "shop") == [("APPLE",)],
            30,
            "b's update on a",
        )
        a.query("INSERT INTO items VALUES (4, 'after')", "shop")  # on every head a has: a merge entry
        status = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://{a.http_address}/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}
                ),
                timeout=5,
            ).read()
        )
        entries = next(d for d in status["databases"] if d["name"] == "shop")["entries"]
        base = f"http://{a.http_address}/dashboard/?token={TOKEN}"

        # This node: identity, addresses, roles, uptime, databases.
        dom = browse(base + "#/", ARTIFACTS / "node.png")
        assert text_of(dom, "peer-id") == status["peer_id"]
        assert text_of(dom, "role") == "archive" and re.fullmatch(r"(\d+m )?\d+s", text_of(dom, "uptime"))
        assert f'data-address="mysql" class="mono">127.0.0.1:{a.mysql_port}<' in dom
        assert 'data-db="shop"' in dom and rows_of(dom, "databases") == 1

        # Peers and the topology of the links: b and c are linked, drawn around this node.
        dom = browse(base + "#/peers", ARTIFACTS / "peers.png")
        assert rows_of(dom, "peers") == 2
        assert dom.count('class="peer-node"') >= 2 and 'class="self-node"' in dom
        for peer in (b, c):
            assert f'data-peer="{peer.status()["peer_id"]}"' in dom

        # The database: summary, lag, the log as a DAG, checkpoints, access rules, conflicts, rejections.
        dom = browse(base + "#/db/shop", ARTIFACTS / "database.png")
        assert text_of(dom, "db-entries") == str(entries)
        assert rows_of(dom, "lag") == 2
        assert dom.count('class="entry"') == min(entries, 40)
        assert "merge" in dom  # c's return made a merge entry (an entry with two parents)
        assert rows_of(dom, "conflicts") >= 1 and "duplicate_key" in dom
        assert "No entry rejected." in dom and 'id="acl-controlled"' in dom
        assert 'id="checkpoints"' in dom

        # The live change feed: the changes so far, then new ones as they commit.
        # The page streams them (NDJSON); a dump under load may come before the first chunk: retried.
        for _ in range(3):
            dom = browse(base + "#/feed/shop", ARTIFACTS / "feed.png")
            shown = re.findall(r'data-change="(\d+)"', dom)
            if shown:
                break
        assert len(shown) >= 5 and "APPLE" in dom

        # Without the token: the page asks for it (the API refuses every data request).
        dom = browse(f"http://{a.http_address}/dashboard/#/")
        assert 'id="token"' in dom and "bearer token" in dom
        assert status["peer_id"] not in dom

        # A node without a token: served as is (b), and its pages show its own identity.
        dom = browse(f"http://{b.http_address}/dashboard/#/")
        assert "12D3KooW" in text_of(dom, "peer-id") and text_of(dom, "peer-id") != status["peer_id"]

        for name in ("node", "peers", "database", "feed"):
            data = (ARTIFACTS / f"{name}.png").read_bytes()
            assert data.startswith(b"\x89PNG") and len(data) > 5000
    finally:
        for node in nodes:
            node.stop()


def test_the_dashboard_files_need_no_token_but_its_data_does(tmp_path: Path) -> None:
    """Static files hold no data; every API route still asks for the bearer token."""
    data_dir = tmp_path / "n"
    data_dir.mkdir()
    (data_dir / "config.json").write_text(json.dumps({"http_token": TOKEN}))
    node = NodeProcess(data_dir, ["--http-port", str(free_port())]).start()
    try:
        for path in ("/dashboard/", "/dashboard/app.js", "/dashboard/style.css"):
            with urllib.request.urlopen(f"http://{node.http_address}{path}", timeout=5) as response:
                assert response.status == 200 and response.headers["Content-Security-Policy"]
        with urllib.request.urlopen(f"http://{node.http_address}/", timeout=5) as response:  # redirected
            assert response.url.endswith("/dashboard/")
        for path in ("/v1/status", "/v1/peers", "/v1/acl/x", "/v1/conflicts/x", "/v1/rejected/x"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://{node.http_address}{path}", timeout=5)
            assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://{node.http_address}/dashboard/secret.txt", timeout=5)
        assert missing.value.code == 404
    finally:
        node.stop()
