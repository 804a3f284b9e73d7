"""The real Automation API adapter against a stand-in `pulumi` executable that logs its calls.

The stand-in answers the few commands stack selection, config and plugins use, so these tests
check what hybridctl hands the real CLI: no secret on any command line, the passphrase only in
the environment, the secrets provider and the backend in the project settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from hybridctl.deploy.pulumi.automation import (
    StackTarget,
    decode_key,
    encode_key,
    open_automation_stack,
)
from hybridctl.deploy.pulumi.passphrase import Passphrase
from hybridctl.errors import UsageError

TOKEN = "hcloud-token-value-that-must-never-be-on-argv-0123456789"
PASSPHRASE = "passphrase-that-must-never-be-on-argv-9876543210"

FAKE_PULUMI = r"""#!{python}
import json, os, sys
from pathlib import Path

args = [a for a in sys.argv[1:] if a != "--non-interactive"]  # Automation API adds it first
store_path = Path(os.environ["FAKE_PULUMI_STORE"])
empty = {{"stacks": [], "config": {{}}}}
store = json.loads(store_path.read_text()) if store_path.exists() else empty
stdin = ""
if args[:2] == ["config", "set"] and args[-1] == "--":
    stdin = sys.stdin.read()
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps({{"argv": args, "stdin": stdin, "cwd": os.getcwd(),
        "passphrase_env": os.environ.get("PULUMI_CONFIG_PASSPHRASE")}}) + "\n")

def save():
    store_path.write_text(json.dumps(store))

def stack_of(args):
    return args[args.index("--stack") + 1] if "--stack" in args else None

if args == ["version"]:
    print("v3.200.0")
elif args[:2] == ["stack", "select"]:
    if stack_of(args) not in store["stacks"]:
        sys.stderr.write("error: no stack named '%s' found\n" % stack_of(args))
        sys.exit(255)
elif args[:2] == ["stack", "init"]:
    store["stacks"].append(args[2]); save()
elif args[:2] == ["config", "set"]:
    rest = [a for a in args[2:] if a not in ("--secret", "--plaintext", "--")]
    stack = stack_of(rest)
    rest = [a for a in rest if a not in ("--stack", stack)]
    key = rest[0]
    value = rest[1] if len(rest) > 1 else stdin
    store["config"][key] = {{"value": value, "secret": "--secret" in args}}; save()
elif args[:2] == ["config", "get"]:
    key = args[2]
    if key not in store["config"]:
        sys.stderr.write("error: configuration key '%s' not found for stack\n" % key)
        sys.exit(255)
    print(json.dumps(store["config"][key]))
elif args[:3] == ["plugin", "ls", "--json"]:
    print("[]")
"""


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "pulumi-root" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("FAKE_PULUMI_STORE", str(tmp_path / "store.json"))
    monkeypatch.setenv("PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK", "1")
    return log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_open_configure_and_plugins_keep_secrets_off_argv(fake_cli: Path, tmp_path: Path) -> None:
    work_dir = tmp_path / "workspace"
    backend = (tmp_path / "backend").as_uri()
    target = StackTarget(
        name="web",
        backend_url=backend,
        work_dir=work_dir,
        passphrase=Passphrase(PASSPHRASE, "$PULUMI_CONFIG_PASSPHRASE"),
        program=lambda: None,
    )
    stack = open_automation_stack(target)
    assert stack.name == "web"
    assert (tmp_path / "backend").is_dir()
    project = (work_dir / "Pulumi.yaml").read_text()
    assert "name: hybridctl" in project and backend in project and "python" in project

    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    stack.set_config("hcloud:token", TOKEN, secret=True)
    stack.set_config("hybridctl:hostKeyPrivate", encode_key(private), secret=True)
    stack.set_config("aws:region", "us-east-1")
    assert stack.get_config("hcloud:token") == TOKEN
    assert decode_key(stack.get_config("hybridctl:hostKeyPrivate") or "") == private
    assert stack.get_config("hybridctl:missing") is None
    stack.ensure_plugin("hcloud", "v1.43.3")

    calls = _calls(fake_cli)
    for call in calls:
        argv = " ".join(call["argv"])
        assert TOKEN not in argv and PASSPHRASE not in argv and encode_key(private) not in argv
        if call["argv"] != ["version"]:  # the version probe runs before the workspace exists
            assert call["passphrase_env"] == PASSPHRASE
    init = next(c for c in calls if c["argv"][:2] == ["stack", "init"])
    assert "--secrets-provider" in init["argv"] and "passphrase" in init["argv"]
    secret_sets = [
        c for c in calls if c["argv"][:2] == ["config", "set"] and "--secret" in c["argv"]
    ]
    assert [c["stdin"] for c in secret_sets] == [TOKEN, encode_key(private)]
    assert all(c["cwd"] == str(work_dir) for c in secret_sets)
    plain = next(c for c in calls if "aws:region" in c["argv"])
    assert "--plaintext" in plain["argv"] and "us-east-1" in plain["argv"]
    install = next(c for c in calls if c["argv"][:2] == ["plugin", "install"])
    assert install["argv"][2:5] == ["resource", "hcloud", "v1.43.3"]

    # A second open selects the same stack instead of creating another.
    open_automation_stack(target)
    assert sum(1 for c in _calls(fake_cli) if c["argv"][:2] == ["stack", "init"]) == 1


def test_open_without_cli_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    target = StackTarget(
        name="web",
        backend_url=(tmp_path / "b").as_uri(),
        work_dir=tmp_path / "w",
        passphrase=Passphrase(PASSPHRASE, "env"),
    )
    with pytest.raises(UsageError) as caught:
        open_automation_stack(target)
    assert "get.pulumi.com" in (caught.value.hint or "")
