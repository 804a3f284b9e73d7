"""The one object templates see: a RenderContext built from the catalog and the render options."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hybridctl.catalog.schema import Catalog, Model, ServerTuning, Tier
from hybridctl.errors import InputError
from hybridctl.providers.admin_access import check_admin_cidr, check_ssh_public_key
from hybridctl.providers.registry import DEFAULT_CLOUD, is_local
from hybridctl.render import images
from hybridctl.stackfacts import (
    BUNDLE_DIR_ON_HOST,
    GATEWAY_HEALTH_PATH,
    MODEL_DOWNLOADER,
    ON_BOX_PROJECT,
)

ServerKind = Literal["llama.cpp", "bitnet.cpp", "ollama"]

ONE_SHOT_MEMORY_MIB = 64  # models-init and models-warm: curl and a shell
LLM_PORT = 8080
GATEWAY_PORT = 4000
MODELS_HOST_DIR = "/var/lib/hybridctl/models"  # the attached models volume on a cloud box

# API keys the gateway may use, read from the user's environment when rendering.
API_KEY_ENV = (
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GROQ_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
)
# Secrets rendering generates when the user gave none.
GENERATED_ENV = ("GRAFANA_ADMIN_PASSWORD", "LITELLM_MASTER_KEY", "REDIS_PASSWORD")

# What the proxy passes to the gateway: the chat API (which the routing policy governs), the
# model list and LiteLLM's liveness route. The box serves no embedding model, and the legacy
# completions API is left out: it reaches no model the chat API does not.
API_PATHS = (
    "/v1/chat/completions",
    "/v1/models",
    "/v1/models/*",
    "/chat/completions",
    "/models",
    "/models/*",
    GATEWAY_HEALTH_PATH,
)
# A request body's bytes per token of context: about 4 characters a token, doubled for JSON
# escaping and the messages' structure, and doubled again for room.
BODY_BYTES_PER_TOKEN = 16
# The longest context a cloud route takes (128k-token models), for a box with cloud routes.
CLOUD_CONTEXT_TOKENS = 128_000
# Where node 0 of a multi-node deployment publishes its Redis: the node's private address, which
# deploy writes to its .env; loopback (unreachable from other nodes) until it does.
SHARED_STORE_BIND = "${HYBRIDCTL_REDIS_BIND:-127.0.0.1}"
SHARED_STORE_NETWORK = "store"
# Who reaches Grafana on a local box (published on 127.0.0.1 only): Docker's port forwarder
# connects from the bridge network's gateway, so loopback alone would shut everyone out.
LOCAL_ADMIN_CIDRS = ("127.0.0.0/8", "::1/128", "172.16.0.0/12", "192.168.0.0/16")

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_MODEL_FILE = re.compile(r"[^A-Za-z0-9._-]+")


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RenderOptions(Frozen):
    """What the user chose on top of the catalog."""

    tier_id: str
    provider: str = DEFAULT_CLOUD
    ollama: bool = False
    domain: str | None = None
    admin_cidr: str | None = None
    ssh_public_key: str | None = None
    # Service -> image reference (None: leave that optional service out); see images_file.
    images: dict[str, str | None] = {}
    # Where the proxy publishes: None is every interface (a cloud box); 127.0.0.1 for local.
    publish_address: str | None = None
    https_port: int = Field(default=443, ge=1, le=65535)
    http_port: int = Field(default=80, ge=1, le=65535)
    # Cloud route -> an OpenAI-compatible base URL that serves it instead of the vendors.
    route_urls: dict[str, str] = {}
    # Serve models the catalog has no sha256 for (they are named in a warning).
    allow_unverified: bool = False
    # Servers behind one load balancer: > 1 shares node 0's Redis and the balancer's name.
    nodes: int = Field(default=1, ge=1, le=50)
    # CPUs of the machine that runs the box when it is not the tier's (a local box): the
    # model server's limit is sized for it, since Docker refuses a limit above the host's.
    host_cpus: int | None = Field(default=None, ge=1)


class LocalModel(Frozen):
    """A model the box serves, as the model server and the download script need it."""

    name: str  # the catalog key: the model name the gateway asks the local server for
    filename: str
    uri: str
    sha256: str | None
    quantization: str
    file_size_mb: float
    memory_mib: int


class Images(Frozen):
    llm: str
    gateway: str = images.LITELLM
    redis: str = images.REDIS
    prometheus: str = images.PROMETHEUS
    grafana: str = images.GRAFANA
    proxy: str = images.CADDY
    curl: str = images.CURL
    bitnet_base: str = images.BITNET_BASE
    bitnet_repo: str = images.BITNET_REPO
    bitnet_commit: str = images.BITNET_COMMIT


class RenderContext(Frozen):
    """Everything a template may use; nothing else reaches a template."""

    tier_id: str
    tier_name: str
    provider: str
    server: ServerKind
    gpu: bool
    models: list[LocalModel]
    context_tokens: int
    parallel_slots: int
    weight_repacking: bool
    tuning: ServerTuning | None = None  # `bench --tune`'s settings for the model server
    vcpu: float
    images: Images
    memory_mib: dict[str, int]  # every service's memory limit, by compose service name
    ram_mib: int
    os_reserved_mib: int
    services: list[str]  # the catalog services this tier runs (gateway, redis, ...)
    monitoring: bool  # Prometheus runs (and Grafana, unless `grafana` is False)
    grafana: bool
    llm_cpus: float  # the model server's CPU limit: the rest is the gateway's and the proxy's
    threads: int  # the model server's threads and batch threads: the cores it may use
    batch_size: int
    ubatch_size: int
    flash_attn: bool | None = None  # None: llama.cpp's auto
    kv_cache_type: str = "f16"
    publish_address: str | None = None
    https_port: int = 443
    http_port: int = 80
    # A cloud box keeps its models on the attached volume, mounted here by cloud-init; None
    # (a local box) keeps them in a Docker volume.
    models_host_dir: str | None = None
    domain: str | None
    llm_port: int = LLM_PORT
    gateway_port: int = GATEWAY_PORT
    bundle_dir: str = BUNDLE_DIR_ON_HOST
    compose_project: str = ON_BOX_PROJECT
    api_key_env: list[str] = list(API_KEY_ENV)
    swap_gib: float = 0
    router: Any = None  # hybridctl.render.router.RouterContext when the router module exists
    nodes: int = 1
    shared_store_bind: str = SHARED_STORE_BIND
    api_paths: list[str] = list(API_PATHS)
    max_request_mib: int = 2  # the proxy answers 413 to a larger request body
    # Networks Grafana answers through the proxy; empty: nobody (a cloud box without an admin
    # CIDR). Behind a balancer that does not keep the client's address, reach it by node IP.
    grafana_cidrs: list[str] = []
    unverified_models: list[str] = []  # models the catalog has no sha256 for
    notes: list[str] = []

    @property
    def memory_total_mib(self) -> int:
        return sum(self.memory_mib.values())


def model_filename(name: str) -> str:
    """The file a model is stored under in the models volume: its catalog name, made safe."""
    return _MODEL_FILE.sub("-", name).strip("-.") + ".gguf"


def validate_domain(domain: str | None) -> str | None:
    if domain is None:
        return None
    cleaned = domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(cleaned):
        raise InputError(
            f"--domain {domain!r} is not a DNS name",
            hint="Give the name that resolves to the server, e.g. --domain llm.example.com.",
        )
    return cleaned


def validate_admin_cidr(cidr: str) -> str:
    return check_admin_cidr(cidr)


def validate_ssh_public_key(key: str) -> str:
    return check_ssh_public_key(key)


def _server_kind(tier: Tier, ollama: bool) -> ServerKind:
    if ollama:
        return "ollama"
    return "bitnet.cpp" if tier.runtime == "bitnet.cpp" else "llama.cpp"


def _llm_image(server: ServerKind, gpu: bool) -> str:
    if server == "ollama":
        return images.OLLAMA
    if server == "bitnet.cpp":
        return images.BITNET_IMAGE
    return images.LLAMA_CPP_CUDA if gpu else images.LLAMA_CPP_CPU


def _local_model(name: str, model: Model, memory_mib: float) -> LocalModel:
    return LocalModel(
        name=name,
        filename=model_filename(name),
        uri=model.uri,
        sha256=model.sha256,
        quantization=model.quantization,
        file_size_mb=model.file_size_mb,
        memory_mib=math.ceil(memory_mib),
    )


REQUIRED_SERVICES = ("gateway", "proxy")


def _images(server: ServerKind, gpu: bool, overrides: dict[str, str | None]) -> Images:
    chosen = {name: ref for name, ref in overrides.items() if ref is not None}
    chosen.setdefault("llm", _llm_image(server, gpu))
    return Images(**chosen)


def _check_runtimes(tier: Tier, catalog: Catalog, server: ServerKind) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in tier.services]
    if missing:
        raise InputError(
            f"tier {tier.id} does not list the {', '.join(missing)} service(s) every bundle runs",
            hint="Add them to the tier's `services` in the catalog.",
        )
    needs = "bitnet.cpp" if server == "bitnet.cpp" else "llama.cpp"  # Ollama embeds llama.cpp
    unfit = [e.model for e in tier.models if needs not in catalog.models[e.model].runtimes]
    if unfit:
        raise InputError(
            f"tier {tier.id} serves with {needs}, but these models do not run on it: "
            f"{', '.join(unfit)}",
            hint="Fix the tier's runtime or its models in the catalog.",
        )
    if server == "bitnet.cpp" and len(tier.models) != 1:
        raise InputError(
            f"tier {tier.id}: bitnet.cpp's server (an older llama.cpp) serves one model per "
            f"process, and the bundle runs one; the tier lists {len(tier.models)}",
            hint="Give a bitnet.cpp tier exactly one model.",
        )


def build_context(catalog: Catalog, tier: Tier, options: RenderOptions) -> RenderContext:
    """Turn the catalog's numbers for one tier, and the user's options, into a RenderContext."""
    from hybridctl.catalog.resources import server_resources
    from hybridctl.catalog.sizing import tier_memory_budget

    budget = tier_memory_budget(catalog, tier)
    # The one definition of the server's share of the machine, which the planner reads too.
    resources = server_resources(tier, options.provider, host_cpus=options.host_cpus)
    missing = [entry.model for entry in tier.models if entry.model not in catalog.models]
    if missing:
        raise InputError(
            f"tier {tier.id} lists models the catalog does not define: {', '.join(missing)}",
            hint="Run `hybridctl validate` and fix the catalog.",
        )
    models = [
        _local_model(entry.model, catalog.models[entry.model], budget.models_mib[entry.model])
        for entry in tier.models
    ]
    server = _server_kind(tier, options.ollama)
    _check_runtimes(tier, catalog, server)
    gpu = tier.gpu is not None
    notes: list[str] = []

    memory: dict[str, int] = {name: int(mib) for name, mib in sorted(budget.services_mib.items())}
    memory[MODEL_DOWNLOADER] = ONE_SHOT_MEMORY_MIB
    memory["models-warm"] = ONE_SHOT_MEMORY_MIB
    ram_mib = int(budget.ram_mib)
    host_left = ram_mib - budget.os_reserved_mib - sum(memory.values())
    if gpu:
        # Weights and KV cache live in VRAM; the server keeps what RAM the other services leave.
        memory["llm"] = host_left
        notes.append(
            f"models sized for {budget.vram_mib:.0f} MiB of VRAM; the server's RAM limit is "
            "what the other services leave"
        )
    else:
        memory["llm"] = math.ceil(budget.models_total_mib)
    monitoring = "prometheus" in tier.services and "grafana" in tier.services
    if monitoring and options.images.get("grafana", "") is None:
        memory.pop("grafana", None)
        notes.append("grafana left out: the images file maps it to null")
    if server == "ollama":
        memory["ollama-import"] = ONE_SHOT_MEMORY_MIB
        memory["llm"] = min(memory["llm"], host_left - ONE_SHOT_MEMORY_MIB)

    return RenderContext(
        tier_id=tier.id,
        tier_name=tier.name,
        provider=options.provider,
        server=server,
        gpu=gpu,
        models=models,
        context_tokens=resources.context_tokens,
        parallel_slots=resources.parallel_slots,
        weight_repacking=resources.repack,
        tuning=tier.tuning,
        vcpu=resources.vcpu,
        images=_images(server, gpu, options.images),
        memory_mib=dict(sorted(memory.items())),
        ram_mib=ram_mib,
        os_reserved_mib=budget.os_reserved_mib,
        services=sorted(tier.services),
        monitoring=monitoring,
        grafana=monitoring and options.images.get("grafana", "") is not None,
        llm_cpus=resources.cpu_limit,
        threads=resources.threads,
        batch_size=resources.batch_size,
        ubatch_size=resources.ubatch_size,
        flash_attn=resources.flash_attn,
        kv_cache_type=resources.kv_cache_type,
        publish_address=options.publish_address,
        models_host_dir=None if is_local(options.provider) else MODELS_HOST_DIR,
        https_port=options.https_port,
        http_port=options.http_port,
        domain=validate_domain(options.domain),
        swap_gib=tier.swap_gib,
        nodes=options.nodes,
        grafana_cidrs=_grafana_cidrs(options),
        max_request_mib=request_limit_mib(catalog, tier),
        unverified_models=[m.name for m in models if not m.sha256],
        notes=notes,
    )


def request_limit_mib(catalog: Catalog, tier: Tier) -> int:
    """The largest request body the proxy passes: the catalog's, else the longest context's."""
    if catalog.routing.max_request_mib is not None:
        return catalog.routing.max_request_mib
    tokens = tier.context_tokens
    if any(catalog.routing.routes.get(route) for route in ("medium", "large")):  # type: ignore[call-overload]
        tokens = max(tokens, CLOUD_CONTEXT_TOKENS)
    return max(1, math.ceil(tokens * BODY_BYTES_PER_TOKEN / 2**20))


def _grafana_cidrs(options: RenderOptions) -> list[str]:
    if options.admin_cidr:
        return [check_admin_cidr(options.admin_cidr)]
    return list(LOCAL_ADMIN_CIDRS) if is_local(options.provider) else []
