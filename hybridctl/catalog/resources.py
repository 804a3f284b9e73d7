"""The model server's share of the deployed machine: CPU limit, threads, slots, context, batches."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.catalog.schema import Offer, Tier

# On a box with this many vCPUs or more, the gateway, the proxy and Redis keep a quarter of the
# cores (whole cores) so that routing and TLS stay quick; below it they share the server's cores
# (they are idle while a token is generated, and a fraction of a core throttles every thread of
# llama.cpp's decode, which waits for its slowest thread).
SERVICE_CORES_FROM_VCPU = 4
SERVICE_CPU_SHARE = 0.25
# llama.cpp's defaults (llama-server --batch-size, --ubatch-size).
DEFAULT_BATCH_SIZE = 2048
DEFAULT_UBATCH_SIZE = 512


@dataclass(frozen=True)
class ServerResources:
    """What the model server gets on one machine; the renderer and the planner both read it."""

    tier_id: str
    provider: str | None  # the offer sized from (None: the tier's own figures)
    instance_type: str | None
    vcpu: float  # the machine's
    ram_gib: float  # the machine's
    cores: int  # whole cores the server may use: its CPU limit and its thread count
    parallel_slots: int
    context_tokens: int  # per slot
    batch_size: int
    ubatch_size: int
    flash_attn: bool | None  # None: llama.cpp's auto (on for the CPU backend)
    kv_cache_type: str
    repack: bool

    @property
    def threads(self) -> int:
        """`threads` and `threads-batch`: one per core the server may use."""
        return self.cores

    @property
    def cpu_limit(self) -> float:
        """The server's Docker CPU limit."""
        return float(self.cores)


def deployed_offer(tier: Tier, provider: str | None = None) -> Offer | None:
    """The offer a deployment of `tier` runs on: the provider's, else the cheapest deployable."""
    if provider is not None:
        for offer in tier.offers:
            if offer.provider == provider:
                return offer
    deployable = [o for o in tier.offers if not o.reference_only] or list(tier.offers)
    return min(deployable, key=lambda o: o.monthly_usd) if deployable else None


def server_cores(vcpu: float) -> int:
    """Whole cores the model server may use on a machine with `vcpu` of them (at least 1)."""
    whole = max(1, int(vcpu))
    reserved = int(whole * SERVICE_CPU_SHARE) if whole >= SERVICE_CORES_FROM_VCPU else 0
    return max(1, whole - reserved)


def server_resources(
    tier: Tier, provider: str | None = None, *, host_cpus: int | None = None
) -> ServerResources:
    """The model server's resources for `tier` on the offer that is deployed.

    provider: the cloud deployed to (None, or one without an offer: the cheapest deployable
    offer, as `recommend` prices it); host_cpus: the CPUs of the machine that really runs the box
    when it is not the offer's (a local box), since Docker refuses a limit above the host's.
    """
    offer = deployed_offer(tier, provider)
    vcpu = offer.vcpu if offer else tier.vcpu
    ram = offer.ram_gib if offer else tier.ram_gib
    if host_cpus is not None:
        vcpu = min(vcpu, host_cpus)
    tuning = tier.tuning
    return ServerResources(
        tier_id=tier.id,
        provider=offer.provider if offer else None,
        instance_type=offer.instance_type if offer else None,
        vcpu=vcpu,
        ram_gib=ram,
        cores=server_cores(vcpu),
        parallel_slots=tuning.parallel_slots if tuning else tier.parallel_slots,
        context_tokens=tier.context_tokens,
        batch_size=tuning.batch_size if tuning else tier.batch_size,
        ubatch_size=tuning.ubatch_size if tuning else tier.ubatch_size,
        flash_attn=tuning.flash_attn if tuning else None,
        kv_cache_type=tuning.kv_cache_type if tuning else "f16",
        repack=False
        if tier.gpu is not None
        else (tuning.repack if tuning else tier.weight_repacking),
    )


def offer_differences(tier: Tier) -> list[str]:
    """Where a tier's vcpu / ram_gib differ from an offer's (the offer's figures are deployed)."""
    found = []
    for offer in tier.offers:
        parts = []
        if offer.vcpu != tier.vcpu:
            parts.append(f"{offer.vcpu:g} vCPU (tier: {tier.vcpu:g})")
        if offer.ram_gib != tier.ram_gib:
            parts.append(f"{offer.ram_gib:g} GiB RAM (tier: {tier.ram_gib:g})")
        if parts:
            found.append(
                f"tier {tier.id}: {offer.provider} {offer.instance_type} has "
                f"{', '.join(parts)}; the plan and the box use the offer's"
            )
    return found
