"""Check a rendered bundle: files intact, YAML valid, compose valid, memory fits, ports closed."""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from hybridctl.catalog.schema import Catalog
from hybridctl.render.context import GENERATED_ENV, SHARED_STORE_BIND, SHARED_STORE_NETWORK
from hybridctl.render.envfile import ENV_FILE, parse_env
from hybridctl.render.files import MANIFEST, read_manifest, sha256_text

COMPOSE_FILE = "docker-compose.yml"
CLOUD_INIT_FILE = "cloud-init.yaml"
PROXY_SERVICE = "proxy"
PUBLIC_PORTS = {80, 443}
PRIVATE_SERVICES = {"llm": "the model server", "redis": "Redis"}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
SHARED_STORE_PORT = (SHARED_STORE_BIND, "6379", "6379")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|^KEY$|AUTH)")
_REFERENCE = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")
_UNIT_MIB = {"b": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024, "": 1 / 2**20}


@dataclass
class CheckReport:
    bundle: Path
    tier_id: str | None
    problems: list[str] = field(default_factory=list)
    memory_mib: dict[str, float] = field(default_factory=dict)
    memory_budget_mib: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@cache
def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema vendored from compose-spec/compose-spec."""
    return json.loads((Path(__file__).with_name("compose-spec.json")).read_text())


def memory_mib(value: object) -> float | None:
    """A compose memory size ('512M', '1g', 1073741824) in MiB; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value / 2**20
    match = _MEMORY.match(str(value))
    if not match:
        return None
    return float(match.group(1)) * _UNIT_MIB[match.group(2).lower()]


def published_ports(entry: object) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) of one compose `ports` entry; published may be '' (random)."""
    if isinstance(entry, dict):
        return [
            (
                str(entry.get("host_ip", "0.0.0.0")),
                str(entry.get("published", "")),
                str(entry.get("target", "")),
            )
        ]
    text = str(entry).split("/")[0]
    host_ip = "0.0.0.0"
    if text.startswith("["):  # [::1]:8080:80
        closing = text.index("]")
        host_ip, text = text[1:closing], text[closing + 2 :]
    parts = text.split(":")
    if len(parts) == 3:
        host_ip, published, target = parts
    elif len(parts) == 2:
        published, target = parts
    else:
        published, target = "", parts[0]
    return [(host_ip or "0.0.0.0", published, target)]


def read_text(path: Path, name: str, problems: list[str]) -> str | None:
    """A bundle file's text, or None with a problem noted (unreadable, or not UTF-8)."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{name} is not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        problems.append(f"{name} cannot be read: {exc.strerror}")
    return None


def _read_lenient(path: Path) -> str:
    """A file's text for searching; bytes that are not UTF-8 become U+FFFD, unreadable is ''."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _load_yaml(bundle: Path, name: str, problems: list[str]) -> Any:
    text = read_text(bundle / name, name, problems)
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problems.append(f"{name} is not valid YAML: {exc}".replace("\n", " "))
    return None


def _check_manifest(bundle: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        manifest = read_manifest(bundle)
    except Exception as exc:  # InputError with its message
        problems.append(str(exc).splitlines()[0])
        return None
    if manifest is None:
        problems.append(f"{MANIFEST} is missing: this folder was not rendered by hybridctl")
        return None
    for name, digest in sorted(manifest["files"].items()):
        path = bundle / name
        if not path.is_file():
            problems.append(f"{name} is missing (listed in {MANIFEST})")
        elif sha256_text(_read_lenient(path)) != digest:
            problems.append(f"{name} was changed after it was rendered (sha256 differs)")
    return manifest


def _check_syntax(bundle: Path, problems: list[str]) -> None:
    for path in sorted(bundle.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(bundle).as_posix()
        if path.suffix in {".yml", ".yaml"}:
            _load_yaml(bundle, name, problems)
        elif path.suffix == ".json":
            text = read_text(path, name, problems)
            if text is None:
                continue
            try:
                json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(f"{name} is not valid JSON: {exc}")


def _check_schema(compose: dict[str, Any], problems: list[str]) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(compose_schema())
    for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(
            f"{COMPOSE_FILE} breaks the Compose Specification at {where}: {error.message}"
        )


def _service_memory(name: str, service: dict[str, Any], problems: list[str]) -> float | None:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    raw = limits.get("memory", service.get("mem_limit"))
    if raw is None:
        problems.append(f"service {name} has no memory limit")
        return None
    value = memory_mib(raw)
    if value is None:
        problems.append(f"service {name} has an unreadable memory limit {raw!r}")
    return value


def _check_ports(name: str, service: dict[str, Any], problems: list[str]) -> None:
    if service.get("network_mode") == "host":
        problems.append(f"service {name} uses the host network, which bypasses every port rule")
    for entry in service.get("ports") or []:
        for host_ip, published, target in published_ports(entry):
            label = f"{host_ip}:{published or '(random)'}->{target}"
            if name == "redis" and (host_ip, published, target) == SHARED_STORE_PORT:
                continue  # node 0's Redis on its private address, shared by the other nodes
            if name in PRIVATE_SERVICES:
                problems.append(
                    f"{PRIVATE_SERVICES[name]} ({name}) publishes port {label}; it must stay "
                    "on the internal network"
                )
            elif name != PROXY_SERVICE:
                problems.append(f"service {name} publishes port {label}; only the proxy may")
            elif host_ip not in LOOPBACK and (
                published not in {str(p) for p in PUBLIC_PORTS} or target != published
            ):
                problems.append(
                    f"the proxy publishes {label} on a public interface; only 80 and 443 may be"
                )


def _check_networks(compose: dict[str, Any], problems: list[str]) -> None:
    networks = compose.get("networks") or {}
    for name in PRIVATE_SERVICES:
        service = (compose.get("services") or {}).get(name)
        if service is None:
            continue
        attached = service.get("networks") or ["default"]
        names = list(attached) if isinstance(attached, dict | list) else []
        for network in names:
            if name == "redis" and network == SHARED_STORE_NETWORK:
                continue  # the network that carries its private-address port (see above)
            if not (networks.get(network) or {}).get("internal"):
                problems.append(
                    f"{PRIVATE_SERVICES[name]} ({name}) is attached to network {network}, "
                    "which is not internal"
                )


def _check_service_policy(name: str, service: dict[str, Any], problems: list[str]) -> None:
    image = str(service.get("image", ""))
    if not image:
        problems.append(f"service {name} names no image")
    elif "@sha256:" not in image:
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            problems.append(f"service {name} uses image {image} without a pinned tag")
    if "ALL" not in (service.get("cap_drop") or []):
        problems.append(f"service {name} keeps Linux capabilities (cap_drop: [ALL] is missing)")
    if "no-new-privileges:true" not in (service.get("security_opt") or []):
        problems.append(f"service {name} can gain privileges (no-new-privileges:true is missing)")
    restart = str(service.get("restart", ""))
    if not restart:
        problems.append(f"service {name} has no restart policy")
    elif restart != "no" and "healthcheck" not in service:
        problems.append(f"service {name} runs continuously but has no health check")
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    for key, value in sorted(environment.items()):
        if (
            _SECRET_NAME.search(key)
            and value not in (None, "")
            and not _REFERENCE.match(str(value))
        ):
            problems.append(
                f"service {name} sets {key} to a literal value; secrets belong in .env "
                f"(write {key}: ${{{key}}})"
            )


def _check_compose(bundle: Path, report: CheckReport, catalog: Catalog | None) -> None:
    problems = report.problems
    if not (bundle / COMPOSE_FILE).is_file():
        problems.append(f"{COMPOSE_FILE} is missing")
        return
    compose = _load_yaml(bundle, COMPOSE_FILE, [])
    if not isinstance(compose, dict):
        if compose is not None:
            problems.append(f"{COMPOSE_FILE} is not a YAML mapping")
        return
    _check_schema(compose, problems)
    services = compose.get("services") or {}
    if not isinstance(services, dict):
        return
    for name, service in sorted(services.items()):
        if not isinstance(service, dict):
            continue
        value = _service_memory(name, service, problems)
        if value is not None:
            report.memory_mib[name] = value
        _check_ports(name, service, problems)
        _check_service_policy(name, service, problems)
    _check_networks(compose, problems)
    if catalog is not None and report.tier_id is not None:
        _check_memory_fit(report, catalog)


def _check_memory_fit(report: CheckReport, catalog: Catalog) -> None:
    try:
        tier = catalog.tier(report.tier_id or "")
    except KeyError:
        report.problems.append(f"the manifest names tier {report.tier_id}, unknown to the catalog")
        return
    budget = tier.ram_gib * 1024 - catalog.stack.os_reserved_mib
    report.memory_budget_mib = budget
    total = sum(report.memory_mib.values())
    if total > budget:
        listing = ", ".join(f"{k} {v:.0f}" for k, v in sorted(report.memory_mib.items()))
        report.problems.append(
            f"memory limits add up to {total:.0f} MiB, over the {budget:.0f} MiB tier "
            f"{tier.id} leaves after the OS ({tier.ram_gib:g} GiB - "
            f"{catalog.stack.os_reserved_mib} MiB): {listing}"
        )


def _check_env(bundle: Path, problems: list[str]) -> None:
    path = bundle / ENV_FILE
    if not path.exists():
        problems.append(f"{ENV_FILE} is missing (re-render to create it)")
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        problems.append(f"{ENV_FILE} is readable by others (mode {mode:04o}); it must be 0600")
    text = read_text(path, ENV_FILE, problems)
    if text is None:
        return
    try:
        values = parse_env(text, ENV_FILE)
    except Exception as exc:
        problems.append(str(exc).splitlines()[0])
        return
    for name in GENERATED_ENV:
        if not values.get(name):
            problems.append(f"{ENV_FILE} has no {name}")
    secrets = {name: value for name, value in values.items() if len(value) >= 8}
    for path_ in sorted(bundle.rglob("*")):
        if not path_.is_file() or path_.name == ENV_FILE or path_.name.startswith(".env."):
            continue
        text = _read_lenient(path_)
        for name, value in sorted(secrets.items()):
            if value in text:
                problems.append(
                    f"the value of {name} appears in {path_.relative_to(bundle).as_posix()}; "
                    "secrets belong only in .env"
                )


def _check_cloud_init(bundle: Path, problems: list[str]) -> None:
    path = bundle / CLOUD_INIT_FILE
    if not path.exists():
        return
    text = read_text(path, CLOUD_INIT_FILE, problems)
    if text is None:
        return
    if not text.startswith("#cloud-config\n"):
        problems.append(f"{CLOUD_INIT_FILE} does not start with #cloud-config")
    if "PRIVATE KEY" in text:
        problems.append(f"{CLOUD_INIT_FILE} contains a private key; the bundle copy must not")
    data = _load_yaml(bundle, CLOUD_INIT_FILE, [])
    if not isinstance(data, dict):
        return
    if data.get("ssh_pwauth") is not False:
        problems.append(f"{CLOUD_INIT_FILE} does not turn SSH password login off (ssh_pwauth)")
    if data.get("disable_root") is not True:
        problems.append(f"{CLOUD_INIT_FILE} does not disable root login (disable_root)")
    sshd = [f for f in data.get("write_files") or [] if "sshd_config" in str(f.get("path", ""))]
    content = "".join(str(f.get("content", "")) for f in sshd)
    for line in ("PasswordAuthentication no", "PermitRootLogin no"):
        if line not in content:
            problems.append(f"{CLOUD_INIT_FILE}: sshd is not configured with '{line}'")


def check_bundle(bundle: Path, catalog: Catalog | None = None) -> CheckReport:
    """Every problem found in a bundle folder (an empty list: it passes)."""
    report = CheckReport(bundle=bundle, tier_id=None)
    if not bundle.is_dir():
        report.problems.append(f"{bundle} is not a folder")
        return report
    manifest = _check_manifest(bundle, report.problems)
    if manifest is not None:
        report.tier_id = str(manifest.get("tier")) if manifest.get("tier") is not None else None
    _check_syntax(bundle, report.problems)
    _check_compose(bundle, report, catalog)
    _check_env(bundle, report.problems)
    _check_cloud_init(bundle, report.problems)
    return report
