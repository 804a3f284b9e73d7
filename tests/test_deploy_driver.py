"""The deploy driver against a fake Automation API: happy path, tier change, and error paths."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pytest
from pulumi.automation import errors as auto_errors
from rich.console import Console

from hybridctl.catalog import deployments, load_catalog
from hybridctl.deploy.pulumi.driver import HOST_KEY_CONFIG, HOST_KEY_PUBLIC_CONFIG, Deployer
from hybridctl.deploy.pulumi.spec import DeployRequest
from hybridctl.errors import OperationFailed, UsageError
from tests.deploy_fixtures import FakeBackend, FakeBox, command_result, write_ssh_key

TOKEN = "hcloud-token-value-that-must-never-be-printed-0123456789"
PASSPHRASE = "passphrase-that-must-never-be-printed-9876543210"


@pytest.fixture
def catalog():
    return load_catalog()


@pytest.fixture
def cloud_env(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("HCLOUD_TOKEN", TOKEN)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
    write_ssh_key(isolated_env)
    return {"HCLOUD_TOKEN": TOKEN, "HOME": str(isolated_env)}


def _deployer(backend: FakeBackend, env: dict[str, str], answer: bool = True):
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=False)
    questions: list[str] = []

    def confirm(question: str) -> bool:
        questions.append(question)
        return answer

    pushed: list[tuple[Any, bytes, dict[str, str]]] = []

    def pusher(record, archive: bytes, env_values, *, say) -> None:
        pushed.append((record, archive, dict(env_values)))

    deployer = Deployer(
        console,
        opener=backend,
        confirm=confirm,
        env=env,
        cli_finder=lambda: Path("/usr/local/bin/pulumi"),
        pusher=pusher,
        box=FakeBox(),
    )
    deployer.pushed = pushed  # type: ignore[attr-defined]
    return deployer, buffer, questions


def _request(**overrides) -> DeployRequest:
    values = dict(tier_id="1", provider="hetzner", name="web", admin_cidr="203.0.113.7/32")
    values.update(overrides)
    return DeployRequest(**values)


def test_deploy_pins_host_key_configures_provider_and_records(catalog, cloud_env) -> None:
    backend = FakeBackend()
    deployer, buffer, questions = _deployer(backend, cloud_env)
    record = deployer.deploy(catalog, _request(), yes=False)

    stack = backend.stacks["web"]
    assert questions == ["Apply these changes to web?"]
    assert stack.calls.count("up") == 1 and "preview" in stack.calls
    assert stack.secret_keys == {HOST_KEY_CONFIG, "hcloud:token"}
    assert stack.config["hcloud:token"] == TOKEN
    assert stack.plugins and stack.plugins[0][0] == "hcloud"
    target = backend.targets[0]
    assert target.backend_url.startswith("file://") and target.backend_url.endswith("/pulumi")
    assert target.work_dir == deployments.workspace_dir("web")

    assert record.status == "deployed" and record.outputs["ip"] == "198.51.100.7"
    assert record.instance_type == "cx23" and record.monthly_usd == 6.97
    saved = deployments.load_record("web")
    assert saved.outputs == record.outputs
    known_hosts = Path(saved.known_hosts).read_text()
    assert known_hosts.startswith("hybridctl-web,198.51.100.7 ssh-ed25519 ")
    assert stack.config[HOST_KEY_PUBLIC_CONFIG].split()[1] in known_hosts

    assert target.program is not None
    text = buffer.getvalue()
    assert TOKEN not in text and PASSPHRASE not in text
    assert "created" in text  # live progress from the engine events


def test_stack_env_is_kept_0600_reused_and_never_printed(catalog, cloud_env) -> None:
    from hybridctl.render.envfile import read_env

    api_key = "sk-openai-value-that-must-never-be-printed-42"
    env = {**cloud_env, "OPENAI_API_KEY": api_key}
    backend = FakeBackend()
    deployer, buffer, _ = _deployer(backend, env)
    deployer.deploy(catalog, _request(), yes=True)
    path = deployments.deployment_dir("web") / ".env"
    assert path.stat().st_mode & 0o777 == 0o600
    first = read_env(path)
    assert first["OPENAI_API_KEY"] == api_key and first["LITELLM_MASTER_KEY"].startswith("sk-")
    deployer.deploy(catalog, _request(tier_id="2"), yes=True)
    assert read_env(path)["LITELLM_MASTER_KEY"] == first["LITELLM_MASTER_KEY"]
    text = buffer.getvalue()
    assert "LITELLM_MASTER_KEY" in text  # named as generated ...
    assert api_key not in text and first["LITELLM_MASTER_KEY"] not in text  # ... never shown


def test_private_host_key_is_only_in_secret_config(catalog, cloud_env, isolated_env) -> None:
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env)
    deployer.deploy(catalog, _request(), yes=True)
    from hybridctl.deploy.pulumi.automation import decode_key

    private = decode_key(backend.stacks["web"].config[HOST_KEY_CONFIG])
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    body = private.splitlines()[3]  # line 1 is the same for every ed25519 key; 3 is private
    for path in isolated_env.rglob("*"):
        if path.is_file():
            assert body not in path.read_text(errors="ignore"), path


def test_tier_change_is_an_update_with_downtime_warning_and_same_host_key(
    catalog, cloud_env
) -> None:
    backend = FakeBackend()
    deployer, buffer, _ = _deployer(backend, cloud_env)
    first = deployer.deploy(catalog, _request(tier_id="1"), yes=True)
    # tier 2.5 (not 2: tiers 1 and 2 share Hetzner's cx23) resizes the server
    second = deployer.deploy(catalog, _request(tier_id="2.5", admin_cidr=None), yes=True)
    assert second.tier == "2.5" and second.instance_type == "cx33"
    assert second.host_key_public == first.host_key_public
    assert second.created == first.created
    assert second.admin_cidr == "203.0.113.7/32"
    warning = buffer.getvalue()
    assert "cx23 -> cx33" in warning and "powers the server off" in warning


def test_default_name_makes_another_tier_an_update_keeping_the_node_count(
    catalog, cloud_env
) -> None:
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env)
    deployer.deploy(catalog, _request(name=None, nodes=3), yes=True)
    updated = deployer.deploy(
        catalog,
        # tier 2.5's ternary model is pinned by its sha256: no --allow-unverified needed
        _request(name=None, tier_id="2.5", admin_cidr=None),
        yes=True,
    )
    assert updated.name == "hybridctl-hetzner" and updated.tier == "2.5"
    assert updated.nodes == 3 and updated.monthly_usd == pytest.approx(3 * 10.46)
    assert [r.name for r in deployments.list_records()] == ["hybridctl-hetzner"]
    assert list(backend.stacks) == ["hybridctl-hetzner"]


def test_declined_confirmation_changes_nothing(catalog, cloud_env) -> None:
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env, answer=False)
    with pytest.raises(OperationFailed, match="cancelled"):
        deployer.deploy(catalog, _request(), yes=False)
    assert "up" not in backend.stacks["web"].calls
    assert deployments.find_record("web") is None


def test_stack_locked_says_how_to_cancel(catalog, cloud_env) -> None:
    locked = auto_errors.ConcurrentUpdateError(
        command_result(
            "error: the stack is currently locked by 1 lock(s). Either wait for the other "
            "process(es) to end or delete the lock file with `pulumi cancel`."
        )
    )
    backend = FakeBackend(fail={"up": locked})
    deployer, _, _ = _deployer(backend, cloud_env)
    with pytest.raises(OperationFailed) as caught:
        deployer.deploy(catalog, _request(), yes=True)
    assert "locked" in caught.value.message
    assert "hybridctl deploy --cancel web" in caught.value.hint
    assert "pulumi cancel" in caught.value.hint
    record = deployments.load_record("web")
    assert record.status == "failed" and "locked" in (record.last_error or "")


def test_cancel_and_resume(catalog, cloud_env) -> None:
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env)
    deployer.deploy(catalog, _request(), yes=True)
    deployer.cancel("web")
    assert backend.stacks["web"].calls[-1] == "cancel"
    deployer.resume(catalog, "web", yes=True)
    calls = backend.stacks["web"].calls
    assert calls.index("refresh") < len(calls) - 1 and calls[-1] == "up"


def test_pending_operations_point_to_resume(catalog, cloud_env) -> None:
    pending = auto_errors.CommandError(
        command_result(
            "error: the current deployment has 1 resource(s) with pending operations:\n"
            "  * urn:pulumi:web::hybridctl::hcloud:index/server:Server::web-0, interrupted "
            "while creating"
        )
    )
    deployer, _, _ = _deployer(FakeBackend(fail={"preview": pending}), cloud_env)
    with pytest.raises(OperationFailed) as caught:
        deployer.deploy(catalog, _request(), yes=True)
    assert "pending operations" in caught.value.message
    assert "hybridctl deploy --resume web" in caught.value.hint
    record = deployments.load_record("web")
    assert record.status == "failed" and "pending operations" in (record.last_error or "")


def test_missing_plugin_says_how_to_install_it(catalog, cloud_env) -> None:
    missing = auto_errors.CommandError(
        command_result("error: no resource plugin 'hcloud' found in the workspace or on your $PATH")
    )
    deployer, _, _ = _deployer(FakeBackend(fail={"ensure_plugin": missing}), cloud_env)
    with pytest.raises(UsageError) as caught:
        deployer.deploy(catalog, _request(), yes=True)
    assert "hcloud" in caught.value.message
    assert "pulumi plugin install resource hcloud" in caught.value.hint


def test_provider_error_output_is_scrubbed_of_secrets(catalog, cloud_env) -> None:
    leaky = auto_errors.CommandError(
        command_result(f"error: request with token {TOKEN} failed: unable to create server")
    )
    deployer, _, _ = _deployer(FakeBackend(fail={"up": leaky}), cloud_env)
    with pytest.raises(OperationFailed) as caught:
        deployer.deploy(catalog, _request(), yes=True)
    assert TOKEN not in str(caught.value)
    assert "[secret]" in caught.value.message


def test_missing_credentials_named_before_anything_starts(catalog, isolated_env) -> None:
    write_ssh_key(isolated_env)
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, {"HOME": str(isolated_env)})
    for provider, variable in (
        ("hetzner", "HCLOUD_TOKEN"),
        ("aws", "AWS_ACCESS_KEY_ID"),
        ("gcp", "GOOGLE_CREDENTIALS"),
    ):
        with pytest.raises(UsageError) as caught:
            deployer.deploy(catalog, _request(provider=provider, name=f"{provider}-x"), yes=True)
        assert variable in caught.value.message
        assert caught.value.exit_code == 2
    assert backend.targets == []


def test_destroy_removes_resources_stack_and_record(catalog, cloud_env) -> None:
    backend = FakeBackend()
    deployer, _, questions = _deployer(backend, cloud_env)
    deployer.deploy(catalog, _request(), yes=True)
    deployer.destroy("web", yes=False)
    assert questions[-1].startswith("Destroy deployment web")
    assert backend.stacks["web"].calls[-2:] == ["destroy", "remove"]
    assert deployments.find_record("web") is None
    assert not deployments.deployment_dir("web").exists()


def test_destroy_declined_keeps_everything(catalog, cloud_env) -> None:
    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env)
    deployer.deploy(catalog, _request(), yes=True)
    deployer.confirm = lambda question: False
    with pytest.raises(OperationFailed, match="cancelled"):
        deployer.destroy("web", yes=False)
    assert "destroy" not in backend.stacks["web"].calls
    assert deployments.load_record("web").status == "deployed"


def test_inline_program_builds_the_component_and_exports_its_outputs(
    catalog, cloud_env, monkeypatch
) -> None:
    import pulumi

    from hybridctl.providers.mock_run import use_fresh_mocks

    backend = FakeBackend()
    deployer, _, _ = _deployer(backend, cloud_env)
    record = deployer.deploy(catalog, _request(nodes=2), yes=True)
    program = backend.targets[-1].program
    assert program is not None

    created: list[tuple[str, dict]] = []
    ids = iter(range(1001, 2000))
    # Pulumi's mocks run on the current event loop; an earlier test may have left none.
    asyncio.set_event_loop(asyncio.new_event_loop())

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
            created.append((args.typ, dict(args.inputs)))
            outputs = {**args.inputs, "ipAddress": "198.51.100.9", "ipv4": "198.51.100.10"}
            return str(next(ids)), outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
            return {}

    exported: dict[str, object] = {}
    values: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[None]:
        program()
        return pulumi.Output.all(**exported).apply(lambda resolved: values.update(resolved))

    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.__setitem__(name, value))
    use_fresh_mocks(Mocks(), stack="web")
    run()

    assert values["host_key_fingerprint"] == record.host_key_fingerprint
    assert values["ssh_user"]  # the admin login cloud-init creates
    assert values["load_balancer_ip"] == "198.51.100.10"
    assert values["gateway_url"] == "https://198.51.100.10"
    assert len(values["ips"]) == 2
    servers = [inputs for rtype, inputs in created if rtype == "hcloud:index/server:Server"]
    assert len(servers) == 2
    pinned = record.host_key_public.split()[1]
    from hybridctl.render.envfile import format_env, read_env

    values_env = read_env(deployments.deployment_dir("web") / ".env")
    dotenv_b64 = base64.b64encode(format_env(values_env).encode()).decode()
    for server in servers:  # the user data reaches the cloud as a Pulumi secret
        user_data = server["userData"]
        assert user_data["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
        assert pinned in user_data["value"]
        assert "BEGIN OPENSSH PRIVATE KEY" in user_data["value"]
        # No stack secret and no bundle in the metadata: both follow over SSH.
        assert dotenv_b64 not in user_data["value"]
        assert not any(v in user_data["value"] for v in values_env.values() if len(v) >= 8)
        assert "bundle.tar.xz" not in user_data["value"]
    [(pushed_record, archive, pushed_env)] = deployer.pushed  # type: ignore[attr-defined]
    assert pushed_record.outputs == record.outputs and pushed_env == values_env
    assert archive.startswith(b"\xfd7zXZ")  # the tar.xz the box unpacks
    assert all(server["serverType"] == "cx23" for server in servers)
