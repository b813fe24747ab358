"""The address guard: outbound calls reach public addresses only, checked at connect time.

A webhook URL is written by a playbook author, and a chat URL comes from configuration, but
the address behind a host name is whatever DNS says at the moment of connecting. Checking the
URL before sending is not enough: ``localhost``, ``metadata.internal`` or a name whose DNS
answer changes between the check and the connect (DNS rebinding) would still reach the
worker's own network. So the check lives where the socket is opened: a httpcore network
backend resolves the name itself, refuses private, loopback, link-local, multicast, reserved
and unspecified addresses (and IPv4 hidden inside IPv6) unless ``PLAYBOOK_OUTBOUND_ALLOW``
permits them, and then connects to exactly the address it checked. TLS still verifies the
certificate against the host name, and the ``Host`` header keeps it, so nothing but the
socket's destination changes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

from workers.outbound._settings import ALLOW_VAR, AllowEntry, OutboundSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d through a gateway.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Carrier-grade NAT space: not "private" to Python, but not the internet either.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class AddressRefused(Exception):
    """A connection would reach an address outbound calls may not, and nothing allows it."""

    def __init__(self, host: str, port: int, address: IPAddress, kind: str) -> None:
        self.host = host
        self.port = port
        self.address = address
        self.kind = kind
        literal = host == str(address)
        named = "" if literal else f"{host} resolves to {address}, "
        # Suggest the narrowest entry that works: this host (or address) on this port.
        where = f"[{address}]" if literal and address.version == 6 else host
        super().__init__(
            f"{named}{address} is a {kind} address and outbound calls only reach public "
            f"addresses; to allow it, add {where}:{port} (or a CIDR block) to {ALLOW_VAR}"
        )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # An IPv6 address can carry an IPv4 one that the network will deliver to:
    # ::ffff:127.0.0.1 on a dual-stack socket, 2002:7f00:1:: through 6to4, NAT64.
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """What kind of non-public address this is (``"loopback"``...), or None when public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            kind = refusal(inner)
            return f"{kind} (IPv4 {inner} inside IPv6)" if kind else None
    # Most specific first, so the message says "loopback" rather than "private".
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        # 169.254.169.254 is where cloud providers serve instance credentials.
        return "link-local (cloud metadata)" if str(address) == "169.254.169.254" else "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


class AddressPolicy:
    """Which addresses a connection may reach: public ones, plus what the allowlist permits."""

    def __init__(self, allow: Sequence[AllowEntry] = ()) -> None:
        self.allow = tuple(allow)

    def check(self, host: str, address: IPAddress, port: int) -> None:
        """Raise :class:`AddressRefused` unless ``address`` may be reached."""
        kind = refusal(address)
        if kind is None:
            return
        # An IPv4-mapped address is the IPv4 address on the wire; let 127.0.0.1 allow it.
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        for entry in self.allow:
            if any(entry.permits(host, candidate, port) for candidate in candidates):
                return
        raise AddressRefused(host, port, address, kind)


class GuardedBackend(AsyncNetworkBackend):
    """A httpcore network backend that resolves, checks, then connects to the checked address.

    Every new connection goes through :meth:`connect_tcp`, so every connection is checked,
    including a second one to the same host after DNS has changed.
    """

    def __init__(self, policy: AddressPolicy, inner: AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        # Activities run on asyncio, so the anyio backend is the one httpcore would pick.
        self.inner: AsyncNetworkBackend = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        # Every answer is checked before any is tried: a name that resolves to one public
        # and one private address is refused, not half-trusted.
        for address in addresses:
            self.policy.check(host, address, port)
        error: Exception | None = None
        for address in addresses:
            try:
                # The address, not the name: a second DNS lookup here could answer differently.
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # An IPv6 answer may carry a scope ("fe80::1%eth0"); the address is what matters.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        # Outbound calls go to URLs, never to local sockets.
        raise httpcore.ConnectError("outbound calls do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with the connection pool built on :class:`GuardedBackend`."""

    def __init__(self, policy: AddressPolicy, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=10)
        # trust_env=False: no proxy from HTTP(S)_PROXY, whose connects the guard would not see.
        super().__init__(trust_env=False, retries=0)
        # httpx 0.28 takes no network backend (encode/httpx#3749 proposes one), so the pool
        # it built is replaced by the same pool over our backend, built from public httpcore
        # API. SSL_CERT_FILE/SSL_CERT_DIR still apply to certificate verification.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=0,
            network_backend=GuardedBackend(policy),
        )


def _user_agent() -> str:
    try:
        return f"playbook-engine/{version('playbook-engine')}"
    except PackageNotFoundError:  # pragma: no cover - running from a tree never installed
        return "playbook-engine"


USER_AGENT = _user_agent()


class OutboundClient(httpx.AsyncClient):
    """The only client outbound calls use: guarded, explicit timeouts, no redirects, no proxy.

    Its own type, so a function taking one cannot be handed an unguarded ``httpx.AsyncClient``.
    Reuse one across calls to keep connections alive; close it (``aclose`` or ``async with``).
    """

    def __init__(self, settings: OutboundSettings) -> None:
        super().__init__(
            transport=GuardedTransport(AddressPolicy(settings.allow)),
            timeout=settings.timeout(),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
