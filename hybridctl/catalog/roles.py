"""Which of a tier's local models takes simple requests and which takes complex ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hybridctl.catalog.schema import ModelRole, Tier, TierModel

ROLES: tuple[ModelRole, ...] = ("simple", "complex")
"""Every role a local model can take, so a tier serves at most this many models."""

RoleProblem = tuple[tuple[str | int, ...], str]
"""A field path inside the tier, such as ('models', 1, 'role'), and what is wrong there."""


@dataclass(frozen=True)
class LocalRoles:
    """A tier's local models by role: the planning core and the rendered router both read it."""

    simple: TierModel
    complex: TierModel | None

    @property
    def names(self) -> dict[str, str | None]:
        """{"simple": name, "complex": name or None}, as the router's policy file writes it."""
        return {
            "simple": self.simple.model,
            "complex": self.complex.model if self.complex else None,
        }


def role_problems(models: Sequence[TierModel]) -> list[RoleProblem]:
    """What breaks the rule: one model per role, exactly one `simple`, at most one `complex`.

    A model without a `role` is `simple` (the schema's default), so a one-model tier needs no
    role at all, and a two-model tier names the role of at least its complex model.
    """
    if len(models) > len(ROLES):
        return [
            (
                ("models", len(ROLES)),
                f"the tier lists {len(models)} models but there are only {len(ROLES)} roles "
                f"({', '.join(ROLES)}); each local model takes one, so serve at most "
                f"{len(ROLES)}",
            )
        ]
    problems: list[RoleProblem] = []
    first: dict[str, str] = {}
    for j, entry in enumerate(models):
        if entry.role in first:
            other = "complex" if entry.role == "simple" else "simple"
            problems.append(
                (
                    ("models", j, "role"),
                    f"a second {entry.role} model ({first[entry.role]} already is); "
                    f"give one of them `role: {other}`",
                )
            )
        else:
            first[entry.role] = entry.model
    if "simple" not in first:
        problems.append(
            (
                ("models", 0, "role"),
                "the tier has no simple model: one model must take `role: simple` "
                "(the default when `role` is omitted)",
            )
        )
    return problems


def local_roles(tier: Tier) -> LocalRoles:
    """The tier's simple model and its complex one (None when it has none).

    Simple requests (complexity score under the local threshold) go to the simple model;
    requests past it go to the complex model where there is one. A catalog that loaded has
    passed `role_problems`; a tier built by hand that breaks the rule raises ValueError.
    """
    problems = role_problems(tier.models)
    if problems:
        raise ValueError(f"tier {tier.id}: " + "; ".join(message for _, message in problems))
    by_role = {entry.role: entry for entry in tier.models}
    return LocalRoles(simple=by_role["simple"], complex=by_role.get("complex"))
