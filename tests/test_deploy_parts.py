"""Small parts of deploy: credential checks, passphrase, error mapping, progress display."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from pulumi.automation import errors as auto_errors
from rich.console import Console

from hybridctl.deploy.pulumi import errmap, passphrase
from hybridctl.deploy.pulumi.progress import EventProgress, split_urn
from hybridctl.errors import InputError, OperationFailed, UsageError
from hybridctl.providers.registry import get_cloud
from tests.deploy_fixtures import SERVER, command_result, done_event, pre_event


def provider_config(provider: str, region: str, env: dict[str, str]):
    return get_cloud(provider).credentials(region, env)


def test_hetzner_token_is_a_secret_config_value() -> None:
    config = provider_config("hetzner", "fsn1", {"HCLOUD_TOKEN": "tok-123456"})
    assert config.secret == {"hcloud:token": "tok-123456"} and config.plain == {}
    assert "tok-123456" not in repr(config)


def test_aws_credentials_sources(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="AWS_SECRET_ACCESS_KEY"):
        provider_config("aws", "us-east-1", {"AWS_ACCESS_KEY_ID": "AKIA"})
    keys = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    assert provider_config("aws", "eu-west-1", keys).plain == {"aws:region": "eu-west-1"}
    assert provider_config("aws", "us-east-1", {"AWS_PROFILE": "dev"}).source == "AWS_PROFILE"
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    assert provider_config("aws", "us-east-1", {"HOME": str(tmp_path)}).source.endswith(
        "credentials"
    )
    with pytest.raises(UsageError, match="AWS_ACCESS_KEY_ID"):
        provider_config("aws", "us-east-1", {"HOME": str(tmp_path / "nowhere")})


def test_gcp_project_and_zone(tmp_path: Path) -> None:
    key = tmp_path / "sa.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": "my-proj"}))
    config = provider_config("gcp", "us-east1", {"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert config.plain == {
        "gcp:project": "my-proj",
        "gcp:region": "us-east1",
        "gcp:zone": "us-east1-b",
    }
    inline = provider_config(
        "gcp", "europe-west4-c", {"GOOGLE_CREDENTIALS": "{}", "GOOGLE_PROJECT": "p2"}
    )
    assert inline.plain["gcp:project"] == "p2" and inline.plain["gcp:region"] == "europe-west4"
    with pytest.raises(UsageError, match="GOOGLE_PROJECT"):
        provider_config("gcp", "us-central1", {"GOOGLE_CREDENTIALS": "{}"})
    with pytest.raises(UsageError, match="does not exist"):
        provider_config("gcp", "us-central1", {"GOOGLE_APPLICATION_CREDENTIALS": "/nope.json"})


def test_passphrase_generated_once_0600_and_refused_when_readable(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = passphrase.load_passphrase()
    assert first.created and len(first.value) >= 40
    assert first.value not in repr(first)
    path = passphrase.passphrase_file()
    assert path.stat().st_mode & 0o777 == 0o600
    second = passphrase.load_passphrase()
    assert second.value == first.value and not second.created
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="readable by other users"):
        passphrase.load_passphrase()
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-env")
    assert passphrase.load_passphrase().value == "from-env"


def test_passphrase_missing_when_not_creating(isolated_env: Path) -> None:
    with pytest.raises(InputError, match="no Pulumi passphrase"):
        passphrase.load_passphrase(create=False)


@pytest.mark.parametrize(
    ("stderr", "plugin"),
    [
        ("error: no resource plugin 'hcloud' found in the workspace or on your $PATH", "hcloud"),
        (
            "error: could not load plugin for aws provider 'default_7_0_0': no resource plugin "
            "'pulumi-resource-aws' found in the workspace at version v7.0.0",
            "aws",
        ),
        ("error: failed to download plugin: gcp-8.0.0: 403 HTTP error", "gcp"),
    ],
)
def test_missing_plugin_messages(stderr: str, plugin: str) -> None:
    mapped = errmap.map_pulumi_error(
        auto_errors.CommandError(command_result(stderr)), name="web", operation="update"
    )
    assert isinstance(mapped, UsageError)
    assert f"pulumi plugin install resource {plugin}" in (mapped.hint or "")


def test_other_errors_keep_the_error_lines_and_hide_secrets() -> None:
    stdout = "Updating (web)\n  + hcloud:index/server:Server web creating\n"
    stderr = "error: server type cx99 not found (token tok-abcdef)\n"
    mapped = errmap.map_pulumi_error(
        auto_errors.CommandError(command_result(stderr, stdout)),
        name="web",
        operation="update",
        secrets=["tok-abcdef"],
    )
    assert isinstance(mapped, OperationFailed)
    assert "server type cx99 not found" in mapped.message
    assert "tok-abcdef" not in mapped.message and "[secret]" in mapped.message
    assert "hybridctl deploy --resume web" in (mapped.hint or "")


def test_credentials_refused_by_the_cloud() -> None:
    mapped = errmap.map_pulumi_error(
        auto_errors.CommandError(command_result("error: 401 Unauthorized: invalid token")),
        name="web",
        operation="preview",
    )
    assert isinstance(mapped, UsageError) and "refused the credentials" in mapped.message


def test_split_urn() -> None:
    urn = (
        "urn:pulumi:web::hybridctl::hybridctl:stacks:HetznerStack$hcloud:index/server:Server::web-1"
    )
    assert split_urn(urn) == ("hcloud:index/server:Server", "web-1")


def test_progress_live_table_on_a_terminal_and_lines_elsewhere() -> None:
    buffer = io.StringIO()
    terminal = Console(file=buffer, force_terminal=True, width=120)
    with EventProgress(terminal, secrets=["s3cr3t-value"]) as progress:
        progress.on_event(pre_event("web", "create", SERVER, "web-1"))
        progress.on_event(done_event("web", "create", SERVER, "web-1"))
    drawn = buffer.getvalue()
    assert "hcloud:index/server:Server" in drawn and "done" in drawn

    plain_buffer = io.StringIO()
    plain = Console(file=plain_buffer, force_terminal=False, width=120)
    with EventProgress(plain, secrets=["s3cr3t-value"]) as progress:
        progress.on_event(pre_event("web", "update", SERVER, "web-1"))
        progress.on_event(done_event("web", "update", SERVER, "web-1"))
    lines = plain_buffer.getvalue().splitlines()
    assert lines[0].strip() == "~ update hcloud:index/server:Server web-1 ..."
    assert lines[1].strip().startswith("updated hcloud:index/server:Server web-1 (")
    assert [s.op for s in progress.changes()] == ["update"]
