"""The booted box: `hybridctl keys` against a deployment, and clients using their own keys.

Deploys tier 2 with `hybridctl deploy --provider local` (generated models, ports 8443/8080, name
prefix gw-) and drives `hybridctl keys add/list/revoke`, which run the hook package's keys module
in the box's gateway container through `docker compose exec`; requests go through the TLS
proxy, verified with the box's CA. Needs Docker, Compose v2 and the stand-in images
($HYBRIDCTL_TEST_IMAGES); HYBRIDCTL_REQUIRE_BOX=1 makes a missing piece a failure.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridctl.catalog import load_catalog
from tests.box_support import skip_unless_box_runs

pytestmark = pytest.mark.box

NAME = "gw-keys"
HTTPS_PORT, HTTP_PORT = 8443, 8080
TIER = "2"
TIMEOUT_S = 240
FAQ = [{"role": "user", "content": "What are your opening hours?"}]


@dataclass
class KeysBox:
    env: dict[str, str]
    ca: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hybridctl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def chat(self, key: str | None, **headers: str) -> tuple[int, dict[str, str], dict]:
        body = json.dumps({"model": "hybrid", "messages": FAQ, "max_tokens": 8}).encode()
        sent = {"Content-Type": "application/json", **headers}
        if key:
            sent["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(
            f"https://localhost:{HTTPS_PORT}/v1/chat/completions", data=body, headers=sent
        )
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
                status, raw, got = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, got = error.code, error.read(), error.headers
        return status, {k.lower(): v for k, v in got.items()}, json.loads(raw or b"{}")


skip_unless_box_runs()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysBox]:
    from hybridctl.testing.modelgen import write_tiny_model

    tmp = tmp_path_factory.mktemp(NAME)
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "HOME": str(tmp / "home"),
        "HYBRIDCTL_STATE_DIR": str(tmp / "state"),
        "HYBRIDCTL_IMAGES": os.environ["HYBRIDCTL_TEST_IMAGES"],
        "COLUMNS": "200",
    }
    seeds = []
    for i, entry in enumerate(load_catalog().tier(TIER).models):
        path = write_tiny_model(tmp / f"{entry.model}.gguf", seed=i)
        seeds += ["--model-file", f"{entry.model}={path}"]
    deployed = KeysBox(env, tmp / "state" / "deployments" / NAME / "ca.crt")
    done = deployed.cli(
        "deploy", "--provider", "local", "--tier", TIER, "--name", NAME,
        "--https-port", str(HTTPS_PORT), "--http-port", str(HTTP_PORT),
        "--allow-unverified", *seeds,
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        yield deployed
    finally:
        deployed.cli("destroy", NAME, "--yes")


def test_keys_add_list_revoke_on_a_deployment(box: KeysBox) -> None:
    added = box.cli("keys", "add", "alice", "--tier", "free", "--daily-budget", "2", "-d", NAME)
    assert added.returncode == 0, added.stderr
    key = next(line for line in added.stdout.splitlines() if line.startswith("sk-hyb-"))
    assert "shown once" in added.stdout
    # The key decides the tier; the header that asks for more changes nothing.
    status, headers, body = box.chat(key, **{"x-hybrid-user-tier": "paid"})
    assert status == 200, body
    assert headers["x-hybrid-user-tier"] == "free"
    listed = box.cli("keys", "list", "-d", NAME, "--json")
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["alice"]["tier"] == "free" and rows["alice"]["daily_budget_usd"] == "2"
    assert key not in listed.stdout
    again = box.cli("keys", "add", "alice", "--tier", "paid", "-d", NAME)
    assert again.returncode == 2 and "exists" in again.stderr
    assert box.cli("keys", "revoke", "alice", "-d", NAME).returncode == 0
    status, _, body = box.chat(key)
    assert status == 401 and "invalid or revoked" in json.dumps(body)
    gone = box.cli("keys", "revoke", "alice", "-d", NAME)
    assert gone.returncode == 2 and "no key named 'alice'" in gone.stderr


def test_without_a_key_or_with_a_made_up_one_the_box_answers_401(box: KeysBox) -> None:
    assert box.chat(None)[0] == 401
    status, _, body = box.chat("sk-hyb-made-up")
    assert status == 401 and "invalid or revoked" in json.dumps(body)
