"""The provider registry holds everything about each cloud; the rest of the code asks it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from hybridctl.catalog import load_catalog
from hybridctl.errors import InputError, UsageError
from hybridctl.providers.base import Cloud
from hybridctl.providers.registry import (
    CLOUD_REGISTRY,
    CLOUDS,
    DEFAULT_CLOUD,
    PROVIDERS,
    get_cloud,
    get_provider,
    is_local,
    support_of,
)

PACKAGE = Path(__file__).resolve().parent.parent / "hybridctl"


def _outside_providers() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "providers" not in p.parts]


def test_every_cloud_declares_its_support_credentials_plugin_program_and_mocks() -> None:
    assert CLOUDS == ("hetzner", "aws", "gcp")
    assert DEFAULT_CLOUD in CLOUDS
    for name, cloud in CLOUD_REGISTRY.items():
        assert isinstance(cloud, Cloud) and cloud.name == name and cloud.kind == "cloud"
        assert cloud.support.resize_downtime and cloud.support.resize
        assert cloud.mocks.key_properties, name
        module, _, cls = cloud.program.partition(":")
        assert module == f"hybridctl.providers.{name}.program"
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None
        assert f"class {cls}(" in Path(spec.origin).read_text()
        importlib.import_module(cloud.package)  # the [deploy] extra installs it
        assert cloud.support.gpu or "gpu" in cloud.support.unsupported


def test_the_catalog_offers_only_what_the_registry_can_deploy() -> None:
    for tier in load_catalog().tiers:
        for offer in tier.offers:
            if not offer.reference_only:
                assert offer.provider in CLOUDS, (tier.id, offer.provider)
            if tier.gpu is not None and not offer.reference_only:
                assert get_cloud(offer.provider).support.gpu, (tier.id, offer.provider)


def test_lookups_name_the_choices() -> None:
    with pytest.raises(UsageError, match="did you mean 'hetzner'") as caught:
        get_provider("hetzne")
    assert "hetzner, aws, gcp, local" in (caught.value.hint or "")
    with pytest.raises(InputError, match="unknown provider 'local'"):
        get_cloud("local")  # this machine is a provider, not a cloud
    assert support_of("local") is None and support_of("gcp") is get_cloud("gcp").support
    assert is_local("local") and not is_local("aws") and not is_local("nowhere")
    assert set(PROVIDERS) == {*CLOUDS, "local"}


def test_no_cloud_is_named_outside_the_registry() -> None:
    """Adding a cloud touches its package and the catalog: no other module names one."""
    found = []
    for path in _outside_providers():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in CLOUDS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not found, "cloud names outside hybridctl/providers:\n" + "\n".join(found)


def test_no_module_chooses_by_comparing_a_provider_name() -> None:
    """`x.provider == "local"`-style if-chains ask the registry (is_local, get_cloud) instead."""
    found = []
    for path in _outside_providers():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            names_provider = any(
                (isinstance(s, ast.Attribute) and s.attr == "provider")
                or (isinstance(s, ast.Name) and s.id == "provider")
                for s in sides
            )
            if names_provider and any(isinstance(getattr(s, "value", None), str) for s in sides):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, "provider names compared outside the registry:\n" + "\n".join(found)
