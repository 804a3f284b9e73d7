"""Who may administer a box: the network allowed to reach SSH, and the admin's public key."""

from __future__ import annotations

import ipaddress
import re

from hybridctl.errors import InputError

# Wider than this is not "where I administer from" but a large part of the internet.
MIN_PREFIX_IPV4 = 8
MIN_PREFIX_IPV6 = 32

_CIDR_HINT = (
    "Give the address you administer from, e.g. --admin-cidr 203.0.113.7/32 "
    "(look it up with `curl -s https://ifconfig.me`)."
)
_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com)"
    r" [A-Za-z0-9+/]+=*( [^\n]*)?$"
)


def check_admin_cidr(cidr: str) -> str:
    """The admin network, normalised; a range wider than /8 (IPv4) or /32 (IPv6) is refused."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError as exc:
        raise InputError(f"--admin-cidr {cidr!r} is not an IP network", hint=_CIDR_HINT) from exc
    effective: ipaddress.IPv4Network | ipaddress.IPv6Network = network
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        # ::ffff:a.b.c.d/n is the IPv4 range a.b.c.d/(n-96) in disguise.
        mapped = network.network_address.ipv4_mapped
        effective = ipaddress.ip_network(f"{mapped}/{max(network.prefixlen - 96, 0)}", strict=False)
    minimum = MIN_PREFIX_IPV4 if effective.version == 4 else MIN_PREFIX_IPV6
    if effective.prefixlen < minimum:
        reach = (
            "the whole internet"
            if effective.prefixlen == 0
            else f"{effective.num_addresses:,} addresses"
        )
        raise InputError(
            f"--admin-cidr {cidr} would open SSH (port 22) to {reach}; the widest accepted "
            f"is /{minimum} for IPv{effective.version}",
            hint=_CIDR_HINT,
        )
    return str(network)


def check_ssh_public_key(key: str, what: str = "the SSH key") -> str:
    """One OpenSSH public key line; a private key is refused without echoing it."""
    line = key.strip()
    if "PRIVATE KEY" in line:
        raise InputError(
            f"{what} is a private key",
            hint="Pass the public half (the .pub file); the private key never leaves your machine.",
        )
    if not _SSH_KEY.match(line):
        raise InputError(
            f"{what} is not an OpenSSH public key line",
            hint="Expected 'ssh-ed25519 AAAA... [comment]' (the .pub file).",
        )
    return line
