"""Multi-node deploys (`--nodes N`): one Redis and one CA for all nodes, verified by the
balancer's name. The driver runs the provider's real component under Pulumi's mocks; the SSH
steps are recorded rather than run (tests/test_edge.py runs them for real)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hybridctl.catalog import deployments, load_catalog
from hybridctl.deploy.box import push, sshbox
from hybridctl.deploy.box.nodes import Node, serve_nodes
from hybridctl.deploy.compose.compose import ServiceState
from hybridctl.deploy.pulumi.driver import Deployer
from hybridctl.deploy.pulumi.spec import DeployRequest
from hybridctl.errors import CheckFailed
from tests.deploy_fixtures import CREDENTIALS, FakeBox, InlineBackend, write_ssh_key

SHARED = ("LITELLM_MASTER_KEY", "REDIS_PASSWORD")


def _deploy(
    provider: str, home: Path, monkeypatch: pytest.MonkeyPatch, **request: Any
) -> tuple[Any, dict[str, dict[str, str]], list[str]]:
    """Deploy with the real pusher (deliver_stack); each node's pushed .env by its IP."""
    write_ssh_key(home)
    calls: list[str] = []
    pushed: dict[str, dict[str, str]] = {}

    def push_files(client: Any, archive: bytes, env: Any, *, remote_dir: str, say: Any) -> None:
        calls.append(f"push {client.target.host}")
        pushed[client.target.host] = dict(env)

    monkeypatch.setattr(push, "wait_for_ssh", lambda client, *, timeout_s, say: None)
    monkeypatch.setattr(push, "wait_for_cloud_init", lambda client, *, timeout_s, say: None)
    monkeypatch.setattr(push, "push_files", push_files)
    env = {"HOME": str(home), "PULUMI_CONFIG_PASSPHRASE": "pass-0123456789"}
    env.update(CREDENTIALS[provider])
    deployer = Deployer(
        Console(file=io.StringIO(), width=200),
        opener=InlineBackend(),
        confirm=lambda question: True,
        env=env,
        cli_finder=lambda: Path("/usr/local/bin/pulumi"),
        box=FakeBox(calls),
    )
    values = dict(tier_id="1", provider=provider, name="mn-cloud", admin_cidr="203.0.113.7/32")
    values.update(request)
    record = deployer.deploy(load_catalog(), DeployRequest(**values), yes=True)
    return record, pushed, calls


@pytest.mark.parametrize("provider", ["hetzner", "aws", "gcp"])
def test_every_node_uses_node_zeros_redis_and_knows_the_balancers_name(
    provider: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, pushed, calls = _deploy(provider, isolated_env, monkeypatch, nodes=3)
    outputs = record.outputs
    ips, private = outputs["ips"], outputs["private_ips"]
    assert len(ips) == 3 and len(private) == 3 and outputs["load_balancer_ip"]
    lb_host = outputs["gateway_url"].removeprefix("https://")
    assert calls == [*(f"push {ip}" for ip in ips), "rotate", "wait 1 " + calls[-1].split()[-1]]
    first, *others = (pushed[ip] for ip in ips)
    assert first["HYBRIDCTL_REDIS_BIND"] == private[0] and "HYBRIDCTL_REDIS_HOST" not in first
    for env in others:
        assert env["HYBRIDCTL_REDIS_HOST"] == private[0] and "HYBRIDCTL_REDIS_BIND" not in env
    for env in (first, *others):
        assert env["HYBRIDCTL_LB_HOST"] == lb_host
        assert all(env[key] == first[key] for key in SHARED)  # one spend store, one password
    assert deployments.load_record("mn-cloud").outputs["private_ips"] == private


def test_a_single_node_gets_no_node_entries_and_the_domain_is_an_output(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, pushed, _ = _deploy("hetzner", isolated_env, monkeypatch, domain="llm.example.com")
    [env] = pushed.values()
    assert not any(key.startswith("HYBRIDCTL_") for key in env)
    assert "private_ips" not in record.outputs and "load_balancer_ip" not in record.outputs
    assert deployments.load_record("mn-cloud").outputs["domain"] == "llm.example.com"


class FakeCompose:
    """A node's compose project: its services' states, its proxy's CA, what it was asked."""

    def __init__(self, name: str, ca: str) -> None:
        self.name = name
        self.ca = ca
        self.asked: list[str] = []
        self.proxy = "running"

    def states(self) -> dict[str, ServiceState]:
        return {
            "proxy": ServiceState("proxy", self.proxy, "", 0, ()),
            "gateway": ServiceState("gateway", "running", "healthy", 0, ()),
        }

    def copy_out(self, source: str, dest: Path) -> bool:
        self.asked.append(f"copy {source}")
        dest.write_text(self.ca)
        return True

    def logs(self, service: str, lines: int = 30) -> str:
        return f"{self.name} {service}: last words"

    def compose(self, *args: str, timeout: float = 600) -> Any:
        import subprocess

        body = b'{"data": [{"id": "tiny", "status": {"value": "loaded"}}]}'
        return subprocess.CompletedProcess(list(args), 0, body, b"")


def _nodes(count: int) -> list[Node]:
    return [
        Node(f"node{i}", FakeCompose(f"node{i}", f"CA of node {i}"), f"https://10.0.0.{i}:443")
        for i in range(count)
    ]


def test_nodes_are_verified_by_the_balancers_name_with_node_zeros_ca_after_sharing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.deploy.box import nodes as nodes_module

    nodes = _nodes(3)
    shared: list[str] = []
    tried: list[tuple[str, str, str]] = []

    def tls_ok_as(url: str, server_name: str, ca_file: Path | None, timeout: float = 5) -> bool:
        assert ca_file is not None
        tried.append((url, server_name, ca_file.read_text()))
        # Node 0 verifies with its own CA; the others only once they hold it.
        return url.endswith(".0:443") or bool(shared)

    monkeypatch.setattr(nodes_module, "tls_ok_as", tls_ok_as)
    monkeypatch.setattr(nodes_module, "POLL_S", 0.01)
    ca_file = tmp_path / "ca.crt"
    said: list[str] = []
    problem = serve_nodes(
        nodes,
        "lb.example.net",
        ca_file,
        ["tiny"],
        share=lambda: shared.append("shared"),
        timeout_s=30,
        say=said.append,
    )
    assert problem is None, problem
    assert ca_file.read_text() == "CA of node 0"
    assert shared == ["shared"]
    assert {url for url, _, _ in tried} == {n.url for n in nodes}
    assert all(name == "lb.example.net" and ca == "CA of node 0" for _, name, ca in tried)
    assert "proxy: node 0's CA installed on 2 other node(s)" in said


def test_a_node_that_never_verifies_fails_with_its_proxys_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybridctl.deploy.box import nodes as nodes_module

    monkeypatch.setattr(nodes_module, "POLL_S", 0.01)
    monkeypatch.setattr(
        nodes_module, "tls_ok_as", lambda url, name, ca, timeout=5: url.endswith(".0:443")
    )
    problem = serve_nodes(
        _nodes(2),
        "lb.example.net",
        tmp_path / "ca.crt",
        ["tiny"],
        share=lambda: None,
        timeout_s=0.2,
        say=lambda _: None,
    )
    assert problem is not None
    assert problem.startswith("node1: the gateway did not answer through the proxy as lb.example.")
    assert "node1 proxy: last words" in problem


def _record(outputs: dict[str, Any]) -> Any:
    stamp = deployments.now()
    record = deployments.DeploymentRecord(
        name="mn-wait",
        provider="hetzner",
        tier="1",
        region="fsn1",
        instance_type="cpx11",
        nodes=len(outputs["ips"]),
        admin_cidr="203.0.113.7/32",
        ssh_public_key="",
        host_key_public="",
        host_key_fingerprint="",
        known_hosts=str(deployments.known_hosts_path("mn-wait")),
        backend_url="file://",
        monthly_usd=1.0,
        status="deployed",
        created=stamp,
        updated=stamp,
        outputs=outputs,
    )
    deployments.save_record(record)
    return record


@pytest.mark.parametrize("domain", [None, "llm.example.com"])
def test_the_ssh_box_shares_node_zeros_ca_then_waits_by_the_name(
    domain: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs: dict[str, Any] = {
        "ips": ["198.51.100.1", "198.51.100.2"],
        "private_ips": ["10.42.0.10", "10.42.0.11"],
        "load_balancer_ip": "198.51.100.9",
        "gateway_url": "https://198.51.100.9",
    }
    if domain:
        outputs["domain"] = domain
    record = _record(outputs)
    seen: dict[str, Any] = {}

    def serve_nodes(nodes: Any, server_name: str, ca_file: Any, models: Any, **kw: Any) -> None:
        seen.update(nodes=nodes, name=server_name, ca=ca_file, models=models)
        kw["share"]()

    def share_ca(first: Any, others: Any, *, remote_dir: str, project: Any) -> None:
        seen["share"] = (first.target.host, [o.target.host for o in others], remote_dir)

    monkeypatch.setattr(sshbox, "wait_for_cloud_init", lambda client, *, timeout_s, say: None)
    monkeypatch.setattr(sshbox, "serve_nodes", serve_nodes)
    monkeypatch.setattr(sshbox, "share_ca", share_ca)
    done = sshbox.SshBox().wait_serving(record, ["tiny"], timeout_s=60, say=lambda _: None)
    assert seen["name"] == (domain or "198.51.100.9")
    assert [n.url for n in seen["nodes"]] == ["https://198.51.100.1", "https://198.51.100.2"]
    assert seen["share"][:2] == ("198.51.100.1", ["198.51.100.2"])
    if domain:
        assert seen["ca"] is None  # a public certificate: nothing to share or fetch
    else:
        assert seen["ca"] == deployments.deployment_dir("mn-wait") / "ca.crt"
    assert done.outputs["endpoint"] == "https://198.51.100.9"


def test_the_ssh_box_fails_with_the_nodes_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    record = _record(
        {
            "ips": ["198.51.100.1", "198.51.100.2"],
            "private_ips": ["10.42.0.10", "10.42.0.11"],
            "load_balancer_ip": "198.51.100.9",
            "gateway_url": "https://198.51.100.9",
        }
    )
    monkeypatch.setattr(sshbox, "wait_for_cloud_init", lambda client, *, timeout_s, say: None)
    monkeypatch.setattr(sshbox, "serve_nodes", lambda *a, **k: "198.51.100.2: proxy down")
    with pytest.raises(CheckFailed) as caught:
        sshbox.SshBox().wait_serving(record, ["tiny"], timeout_s=60, say=lambda _: None)
    assert caught.value.exit_code == 1
    assert "does not serve as 198.51.100.9" in caught.value.message
    assert "198.51.100.2: proxy down" in caught.value.message
