"""A tier's serving promise: the concurrency and p95 its rendered box holds, by the speed model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hybridctl.catalog.roles import local_roles
from hybridctl.catalog.schema import Catalog, Tier
from hybridctl.planning.capacity import ModelSpeed, model_speed
from hybridctl.planning.speed import promise_checks as speed_checks

# The load test's request (hybridctl.bench.defaults: LOAD_PROMPT under a chat template, and
# LOAD_MAX_TOKENS): the request a promise is made and measured for.
REQUEST_PROMPT_TOKENS = 40
REQUEST_RESPONSE_TOKENS = 64


@dataclass(frozen=True)
class ServingPromise:
    """What the box promises: `concurrency` clients at once, each answered within `p95_s`."""

    tier_id: str
    model: str  # the model the load test's requests reach (the tier's simple role)
    concurrency: int  # the catalog's claim, lowered until the plan's p95 meets the ceiling
    p95_s: float  # the plan's p95 at `concurrency`
    ceiling_s: float  # the tier's latency target (the upper end of typical_latency_s)
    claimed_concurrency: int  # the catalog's max_concurrent
    slots: int
    single_s: float  # one request alone on the box
    generation_tokens_per_s: float
    detail: str

    @property
    def lowered(self) -> bool:
        return self.concurrency < self.claimed_concurrency

    @property
    def holds(self) -> bool:
        return self.p95_s <= self.ceiling_s


def closed_loop_p95(
    speed: ModelSpeed, clients: int, prompt_tokens: int, response_tokens: int
) -> float:
    """p95 latency of `clients` clients sending one request after another to a server with
    `speed.slots` slots: the active sequences share the cores (the slot gain, measured or 1.0),
    and a client beyond the slots waits for one to free (ceil(clients / slots) waves).
    """
    active = max(1, min(clients, speed.slots))
    per_stream = speed.generation_tokens_per_s * speed.gain(active) / active
    prompt_s = prompt_tokens * active / speed.prompt_tokens_per_s
    service = prompt_s + response_tokens / per_stream
    return math.ceil(clients / speed.slots) * service


def serving_promise(
    catalog: Catalog,
    tier: Tier,
    *,
    host_cpus: int | None = None,
    bandwidth_gbs: float | None = None,
    prompt_tokens: int = REQUEST_PROMPT_TOKENS,
    response_tokens: int = REQUEST_RESPONSE_TOKENS,
) -> ServingPromise:
    """The tier's promise for its box as rendered (or as it runs on a machine: host_cpus and
    bandwidth_gbs): the most clients, up to the catalog's claim, whose p95 meets the tier's
    latency ceiling by the plan; one client when none does (its p95 then shows by how much).
    """
    simple = local_roles(tier).simple.model
    speed = model_speed(catalog, tier, simple, host_cpus=host_cpus, bandwidth_gbs=bandwidth_gbs)
    ceiling = tier.promises.typical_latency_s[1]
    claimed = tier.promises.max_concurrent
    concurrency = 1
    for clients in range(claimed, 0, -1):
        if closed_loop_p95(speed, clients, prompt_tokens, response_tokens) <= ceiling:
            concurrency = clients
            break
    p95 = closed_loop_p95(speed, concurrency, prompt_tokens, response_tokens)
    return ServingPromise(
        tier_id=tier.id,
        model=simple,
        concurrency=concurrency,
        p95_s=p95,
        ceiling_s=ceiling,
        claimed_concurrency=claimed,
        slots=speed.slots,
        single_s=closed_loop_p95(speed, 1, prompt_tokens, response_tokens),
        generation_tokens_per_s=speed.generation_tokens_per_s,
        detail=(
            f"{simple} at {speed.generation_tokens_per_s:.1f} tok/s ({speed.source}, "
            f"{speed.threads} cores), {speed.slots} slots (gain {speed.gain_source}), "
            f"{prompt_tokens} prompt + {response_tokens} answer tokens a request"
        ),
    )


def promise_checks(catalog: Catalog) -> list[str]:
    """The promises a tier's catalog entry makes that its plan does not: tokens/s per model
    (planning.speed), and a max_concurrent above what the plan holds at the latency ceiling."""
    findings = speed_checks(catalog)
    for tier in catalog.tiers:
        if not tier.models:
            continue
        promise = serving_promise(catalog, tier)
        if not promise.holds:
            findings.append(
                f"tier {tier.id}: one request alone takes {promise.p95_s:.1f} s by the plan "
                f"({promise.detail}), over the {promise.ceiling_s:g} s the tier promises; raise "
                f"typical_latency_s to {math.ceil(promise.p95_s * 2) / 2:g} or serve it faster"
            )
        elif promise.lowered:
            findings.append(
                f"tier {tier.id}: promises {promise.claimed_concurrency} concurrent requests "
                f"within {promise.ceiling_s:g} s, but the plan holds {promise.concurrency} "
                f"(p95 {promise.p95_s:.1f} s: {promise.detail}); set max_concurrent to "
                f"{promise.concurrency}"
            )
    return findings


def p95_at(
    catalog: Catalog,
    tier: Tier,
    clients: int,
    *,
    host_cpus: int | None = None,
    bandwidth_gbs: float | None = None,
    prompt_tokens: int = REQUEST_PROMPT_TOKENS,
    response_tokens: int = REQUEST_RESPONSE_TOKENS,
) -> float:
    """The plan's p95 for `clients` clients of the load test's request on the tier's box."""
    simple = local_roles(tier).simple.model
    speed = model_speed(catalog, tier, simple, host_cpus=host_cpus, bandwidth_gbs=bandwidth_gbs)
    return closed_loop_p95(speed, clients, prompt_tokens, response_tokens)
