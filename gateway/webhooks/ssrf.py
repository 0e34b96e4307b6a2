"""Subscription URLs may not point at private, loopback, link-local, multicast,
reserved or cloud-metadata addresses, unless settings name the host in the
allow-list (AUXPOL_WEBHOOK_ALLOWED_HOSTS). Checked at subscription and again
before each delivery (a name can be re-pointed after it was checked)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class UnsafeUrl(ValueError):
    pass


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    blocked = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    if isinstance(address, ipaddress.IPv6Address):
        blocked = blocked or address.is_site_local
    return not blocked and address.is_global


def parse(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("webhook URLs use http or https")
    if parts.username or parts.password:
        raise UnsafeUrl("webhook URLs may not carry credentials")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeUrl("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl("the URL's port is not valid") from exc
    return parts.scheme, host, port


async def check(url: str, allowed_hosts: list[str]) -> None:
    _, host, port = parse(url)
    if host in {h.lower() for h in allowed_hosts}:
        return
    if host in METADATA_HOSTS:
        raise UnsafeUrl("metadata addresses are refused")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise UnsafeUrl(f"the host {host} does not resolve") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not _is_public(address):
            raise UnsafeUrl(
                f"{host} resolves to {address}, a private, loopback, link-local or metadata address"
            )
