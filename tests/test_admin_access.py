"""The admin network and SSH key checks that render, deploy and the stacks share."""

from __future__ import annotations

import pytest

from hybridctl.errors import InputError
from hybridctl.providers.admin_access import check_admin_cidr, check_ssh_public_key

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOmB3QXTuzm4Qm1N5BWaqnVAnBd0y4Y3V5W0+9cVb5sB me@laptop"


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("203.0.113.7/32", "203.0.113.7/32"),
        ("203.0.113.7", "203.0.113.7/32"),
        ("198.51.100.9/24", "198.51.100.0/24"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("2001:db8::/48", "2001:db8::/48"),
    ],
)
def test_admin_networks_accepted(given: str, normalised: str) -> None:
    assert check_admin_cidr(given) == normalised


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("0.0.0.0/0", "the whole internet"),
        ("::/0", "the whole internet"),
        ("0.0.0.0/1", "2,147,483,648 addresses"),
        ("2000::/3", "IPv6"),
        ("::ffff:0.0.0.0/96", "the whole internet"),
        ("my office", "is not an IP network"),
    ],
)
def test_wide_or_bad_admin_networks_refused(given: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        check_admin_cidr(given)
    assert fragment in caught.value.message


def test_ssh_keys() -> None:
    assert check_ssh_public_key(f"  {KEY}\n") == KEY
    with pytest.raises(InputError, match="is a private key") as caught:
        check_ssh_public_key("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n")
    assert "b3BlbnNzaC1rZXk" not in str(caught.value)
    with pytest.raises(InputError, match="not an OpenSSH public key"):
        check_ssh_public_key("ssh-dss AAAA")
