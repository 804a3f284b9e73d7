"""Broken catalogs: each kind names file:line and the field, exits 2, shows no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybridctl.catalog import load_catalog, validate_catalog
from hybridctl.catalog.roles import LocalRoles, local_roles, role_problems
from hybridctl.catalog.schema import TierModel
from hybridctl.cli.app import app
from hybridctl.errors import CatalogError, InputError
from hybridctl.paths import default_catalog_path

runner = CliRunner()
SHIPPED = default_catalog_path().read_text(encoding="utf-8")


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    return text.count("\n", 0, start) + 1


def _replace(text: str, old: str, new: str, occurrence: int = 1) -> str:
    start = -1
    for _ in range(occurrence):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old) :]


TIER2_QWEN = "      - model: qwen2.5-1.5b-instruct-q4_k_m\n"


def _tier1_models_line(text: str) -> int:
    return _line_of(text, "    models:\n      - model: tinyllama-1.1b-chat-q4_k_m")


# Each case: (name, mutate(text) -> text, (needle in mutated text whose line is reported,
# occurrence), expected fragments of the message).
CASES = [
    (
        "yaml-syntax",
        lambda t: _replace(t, "    ram_gib: 2\n", "    ram_gib: [2\n"),
        ("    vcpu: 2", 1),
        ["YAML syntax error"],
    ),
    (
        "unknown-key",
        lambda t: _replace(t, "    disk_gb: 25\n", "    disk_gb: 25\n    disk_gbs: 25\n"),
        ("    disk_gbs: 25", 1),
        ["tiers[0].disk_gbs", "unknown field", "did you mean 'disk_gb'"],
    ),
    (
        "wrong-type",
        lambda t: _replace(t, "    vcpu: 2\n", "    vcpu: one\n"),
        ("    vcpu: one", 1),
        ["tiers[0].vcpu", "valid number"],
    ),
    (
        "negative-ram",
        lambda t: _replace(t, "    ram_gib: 2\n", "    ram_gib: -2\n"),
        ("    ram_gib: -2", 1),
        ["tiers[0].ram_gib", "greater than 0"],
    ),
    (
        "missing-model",
        lambda t: _replace(
            t, "      - model: tinyllama-1.1b-chat-q4_k_m", "      - model: tinylama-1.1b"
        ),
        ("      - model: tinylama-1.1b", 1),
        ["tiers[0].models[0].model", "unknown model 'tinylama-1.1b'", "did you mean"],
    ),
    (
        "duplicate-tier",
        lambda t: _replace(t, '  - id: "2"\n', '  - id: "1"\n'),
        ('  - id: "1"', 2),
        ["tiers[1].id", "duplicate tier id '1'"],
    ),
    (
        "model-cannot-fit",
        lambda t: _replace(
            t,
            "      - model: tinyllama-1.1b-chat-q4_k_m\n        role: simple\n"
            "        promised_tokens_per_s: 19.1",
            "      - model: mistral-7b-instruct-v0.2-q4_k_m\n        role: simple\n"
            "        promised_tokens_per_s: 1",
        ),
        ("    models:\n      - model: mistral-7b-instruct-v0.2-q4_k_m", 1),
        ["tiers[0].models", "do not fit tier 1", "MiB"],
    ),
    (
        "duplicate-yaml-key",
        lambda t: _replace(t, '    summary: "Learning', '    name: Again\n    summary: "Learning'),
        ("    name: Again", 1),
        ["tiers[0].name", "duplicate key"],
    ),
    (
        "promise-above-roofline",
        lambda t: _replace(
            t, "        promised_tokens_per_s: 19.1\n", "        promised_tokens_per_s: 80\n"
        ),
        ("        promised_tokens_per_s: 80", 1),
        ["promised_tokens_per_s", "above the bandwidth roofline", "GB/s"],
    ),
    (
        "missing-required-field",
        lambda t: _replace(t, "    runtime: llama.cpp\n", ""),
        ('  - id: "1"', 1),
        ["tiers[0].runtime", "Field required"],
    ),
    (
        "unknown-runtime",
        lambda t: _replace(t, "    runtime: llama.cpp\n", "    runtime: vllm\n"),
        ("    runtime: vllm", 1),
        ["tiers[0].runtime", "'llama.cpp' or 'bitnet.cpp'", "'vllm'"],
    ),
    (
        "bad-date",
        lambda t: _replace(t, "as_of: 2026-11}", "as_of: last year}"),
        ("as_of: last year}", 1),
        ["as_of", "YYYY"],
    ),
    (
        "offer-too-small",
        lambda t: _replace(
            t,
            "instance_type: cx23\n        region: fsn1\n        vcpu: 2\n        ram_gib: 4\n",
            "instance_type: cx23\n        region: fsn1\n        vcpu: 2\n        ram_gib: 1\n",
        ),
        ("        ram_gib: 1", 1),
        ["tiers[0].offers[0].ram_gib", "cx23 has 1 GiB, the tier needs 2"],
    ),
    (
        "unknown-cloud-model",
        lambda t: _replace(t, "large: [gpt-4o,", "large: [gpt-5o,"),
        ("large: [gpt-5o,", 1),
        ["routing.routes.large[0]", "unknown cloud model 'gpt-5o'", "did you mean 'gpt-4o'"],
    ),
    (
        "unknown-traffic",
        lambda t: _replace(t, "  traffic: open_requests\n", "  traffic: open_request\n"),
        ("  traffic: open_request", 1),
        ["routing.traffic", "'open_request' has no curve", "did you mean 'open_requests'"],
    ),
    (
        "no-traffic",
        lambda t: _replace(t, "  traffic: open_requests\n", ""),
        ("routing:\n", 1),
        ["routing.traffic", "no kind of traffic chosen", "open_requests, conversations"],
    ),
    (
        "undeployable-provider",
        lambda t: _replace(
            t,
            "      - provider: hetzner\n        instance_type: cx23",
            "      - provider: hetzner-cloud\n        instance_type: cx23",
        ),
        ("      - provider: hetzner-cloud", 1),
        ["tiers[0].offers[0].provider", "cannot deploy to 'hetzner-cloud'"],
    ),
    (
        "unknown-role",
        lambda t: _replace(t, "        role: simple\n", "        role: medium\n"),
        ("        role: medium", 1),
        ["tiers[0].models[0].role", "'simple' or 'complex'", "'medium'"],
    ),
    (
        "two-simple-models",
        lambda t: _replace(
            t, TIER2_QWEN + "        role: complex\n", TIER2_QWEN + "        role: simple\n"
        ),
        ("        role: simple", 3),
        ["tiers[1].models[1].role", "a second simple model", "role: complex"],
    ),
    (
        # An omitted role is `simple`: a second model without one is a second simple model.
        "role-omitted-beside-a-simple-model",
        lambda t: _replace(t, TIER2_QWEN + "        role: complex\n", TIER2_QWEN),
        (TIER2_QWEN, 1),
        [
            "tiers[1].models[1].role",
            "a second simple model (tinyllama-1.1b-chat-q4_k_m already is)",
        ],
    ),
    (
        "no-simple-model",
        lambda t: _replace(t, "        role: simple\n", "        role: complex\n"),
        ("        role: complex\n        promised_tokens_per_s: 19.1", 1),
        ["tiers[0].models[0].role", "the tier has no simple model"],
    ),
    (
        "more-models-than-roles",
        lambda t: _replace(
            t,
            TIER2_QWEN,
            "      - model: qwen2.5-0.5b-instruct-q4_k_m\n        promised_tokens_per_s: 20\n"
            "        source: {ref: a third model, as_of: 2026}\n" + TIER2_QWEN,
        ),
        (TIER2_QWEN, 1),
        ["tiers[1].models[2]", "3 models but there are only 2 roles (simple, complex)"],
    ),
]


@pytest.mark.parametrize(("name", "mutate", "where", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_broken_catalog_is_reported_with_line_and_field(
    tmp_path: Path, name: str, mutate, where, fragments: list[str]
) -> None:
    text = mutate(SHIPPED)
    assert text != SHIPPED
    path = tmp_path / "tiers.yaml"
    path.write_text(text, encoding="utf-8")
    line = _line_of(text, *where)

    result = runner.invoke(app, ["validate", str(path)])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{path}:{line}:" in result.output, result.output
    for fragment in fragments:
        assert fragment in result.output, f"{fragment!r} not in:\n{result.output}"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = _replace(SHIPPED, "    ram_gib: 2\n", "    ram_gib: -2\n")
    text = _replace(text, "    vcpu: 2\n", "    vcpu: one\n")
    path = tmp_path / "tiers.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        validate_catalog(path)
    assert len(caught.value.problems) == 2
    assert "2 problems" in str(caught.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1: the catalog must be a YAML mapping" in result.output


def test_missing_catalog_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_catalog_from_environment_variable(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text(_replace(SHIPPED, "    ram_gib: 2\n", "    ram_gib: -2\n"), encoding="utf-8")
    monkeypatch.setenv("HYBRIDCTL_CATALOG", str(path))
    result = runner.invoke(app, ["tiers"])
    assert result.exit_code == 2
    assert str(path) in result.output


def test_shipped_catalog_is_valid_and_reports_doubtful_claims() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert re.search(r"ok .*tiers\.yaml: 7 tiers", result.output)
    # The tier guide's "100 tok/s" for an 8B ternary model cannot pass 25 GB/s of bandwidth.
    assert "claimed 100 tok/s exceeds the roofline on every tier serving it (best: tier 2.5" in (
        result.output
    )


def test_shipped_catalog_has_what_the_documents_name() -> None:
    catalog = load_catalog()
    assert catalog.tier_ids == ["1", "2", "2.5", "3", "4", "5", "6"]
    names = " ".join(m.name for m in catalog.models.values())
    for wanted in (
        "TinyLlama",
        "Phi-2",
        "Phi-3",
        "Mistral 7B",
        "Llama 2 7B",
        "Llama 3 8B",
        "CodeLlama",
        "Qwen2.5 0.5B",
        "Qwen2.5 1.5B",
        "Qwen2.5 3B",
        "1.58-bit",
    ):
        assert wanted in names, wanted
    for tier in catalog.tiers:
        deployable = {o.provider for o in tier.offers if not o.reference_only}
        declared = deployable | {u.provider for u in tier.unavailable}
        assert {"hetzner", "aws", "gcp"} <= declared, tier.id
    assert set(catalog.routing.strategies) == {"local_first", "cost_optimized", "quality", "speed"}
    assert catalog.routing.fallback_chain == ["local", "medium", "large"]
    assert set(catalog.routing.user_tiers) == {"free", "paid", "own_key"}


def test_unknown_tier_suggests_close_ones() -> None:
    result = runner.invoke(app, ["cost", "--tier", "2.6"])
    assert result.exit_code == 2
    assert "did you mean" in result.output


def test_find_tier_suggestion() -> None:
    from hybridctl.catalog import find_tier

    with pytest.raises(InputError) as caught:
        find_tier(load_catalog(), "25")
    assert "'2.5'" in caught.value.message


# --- local model roles -----------------------------------------------------------------------


def _entry(model: str, role: str | None = None) -> TierModel:
    fields = {"model": model, "promised_tokens_per_s": 1, "source": {"ref": "test", "as_of": 2026}}
    return TierModel.model_validate(fields if role is None else {**fields, "role": role})


def test_local_roles_of_the_shipped_tiers() -> None:
    catalog = load_catalog()
    roles = {t.id: local_roles(t) for t in catalog.tiers}
    assert {tid: r.names for tid, r in roles.items()} == {
        "1": {"simple": "tinyllama-1.1b-chat-q4_k_m", "complex": None},
        "2": {"simple": "tinyllama-1.1b-chat-q4_k_m", "complex": "qwen2.5-1.5b-instruct-q4_k_m"},
        "2.5": {"simple": "tinyllama-1.1b-chat-q4_k_m", "complex": "llama3-8b-1.58-tq2_0"},
        "3": {"simple": "tinyllama-1.1b-chat-q4_k_m", "complex": "mistral-7b-instruct-v0.2-q4_k_m"},
        "4": {"simple": "mistral-7b-instruct-v0.2-q4_k_m", "complex": "llama-3-8b-instruct-q4_k_m"},
        "5": {"simple": "tinyllama-1.1b-chat-q4_k_m", "complex": "mistral-7b-instruct-v0.2-q4_k_m"},
        "6": {"simple": "mistral-7b-instruct-v0.2-q4_k_m", "complex": "llama-3-8b-instruct-q4_k_m"},
    }
    assert roles["4"].simple is catalog.tier("4").models[0]


def test_an_omitted_role_is_simple() -> None:
    assert _entry("a").role == "simple"
    tier = load_catalog().tier("1")
    one = tier.model_copy(update={"models": [_entry("a")]})
    assert local_roles(one) == LocalRoles(simple=_entry("a"), complex=None)
    two = tier.model_copy(update={"models": [_entry("b", "complex"), _entry("a")]})
    assert local_roles(two).names == {"simple": "a", "complex": "b"}


@pytest.mark.parametrize(
    ("models", "where", "fragment"),
    [
        ([("a", None), ("b", None)], ("models", 1, "role"), "a second simple model (a already is)"),
        ([("a", "complex")], ("models", 0, "role"), "no simple model"),
        (
            [("a", "simple"), ("b", "complex"), ("c", "complex")],
            ("models", 2),
            "3 models but there are only 2 roles",
        ),
    ],
)
def test_role_problems_and_local_roles_refuse_a_broken_tier(
    models: list, where: tuple, fragment: str
) -> None:
    entries = [_entry(name, role) for name, role in models]
    problems = role_problems(entries)
    assert [loc for loc, _ in problems] == [where]
    assert fragment in problems[0][1]
    tier = load_catalog().tier("2").model_copy(update={"models": entries})
    with pytest.raises(ValueError, match="tier 2: "):
        local_roles(tier)


def test_two_complex_models_are_two_problems() -> None:
    entries = [_entry("a", "complex"), _entry("b", "complex")]
    assert [loc for loc, _ in role_problems(entries)] == [
        ("models", 1, "role"),
        ("models", 0, "role"),
    ]


# --- checksums ---------------------------------------------------------------------------------

TERNARY = "llama3-8b-1.58-tq2_0"
TERNARY_SHA256 = "2565559c82a1d03ecd1101f536c5e99418d07e55a88bd5e391ed734f6b3989ac"


def test_every_model_a_tier_serves_has_a_sha256() -> None:
    """So the documented `hybridctl deploy --tier 2.5` needs no --allow-unverified."""
    from hybridctl.catalog.checks import unverified_models

    catalog = load_catalog()
    unpinned = {tier.id: unverified_models(catalog, tier) for tier in catalog.tiers}
    assert {tier: names for tier, names in unpinned.items() if names} == {}


def test_the_ternary_model_is_pinned_with_its_source() -> None:
    model = load_catalog().models[TERNARY]
    assert model.uri.endswith("/Llama3-8B-1.58-100B-tokens-TQ2_0.gguf")
    assert model.sha256 == TERNARY_SHA256
    assert model.sha256_source is not None
    ref = model.sha256_source.ref
    assert "sha256sum -c" in ref and "Dockerfile" in ref
    assert "github.com/stackblogger/bitnet.js" in ref and "github.com/vatsalkshah/BitNet" in ref
    assert not re.search(r"\(\d{3}\)|seed \d", ref)  # cited by address, not an internal name


def test_a_sha256_source_without_a_sha256_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiers.yaml"
    path.write_text(_replace(SHIPPED, f"    sha256: {TERNARY_SHA256}\n", ""), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        validate_catalog(path)
    (problem,) = caught.value.problems
    assert f"models.{TERNARY}.sha256_source" in problem and "no sha256" in problem
    assert problem.startswith(f"{path}:{_line_of(SHIPPED, 'sha256_source:') - 1}:"), problem


def test_deploy_tier_2_5_plans_without_allow_unverified() -> None:
    """The command the project is known by, as the README writes it (needs [deploy])."""
    result = runner.invoke(app, ["deploy", "--tier", "2.5", "--provider", "hetzner", "--plan"])
    assert result.exit_code == 0, result.output
    assert "refuse" not in result.output and "--allow-unverified" not in result.output
    assert "Plan for hybridctl-hetzner: tier 2.5 on hetzner" in result.output
