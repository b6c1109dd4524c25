"""LAN discovery by mDNS / DNS-SD with ``zeroconf`` (DESIGN §5; ``docs/protocol.md``, "Discovery").

Only with ``p2pdb start --lan``. The node announces one service and browses for others:

- **Announce**: ``<peer id>._p2pdb._tcp.local.``, SRV port = the node's p2p port, TXT ``id`` = peer
  id, ``net`` = network id, ``v`` = :data:`DISCOVERY_VERSION`; A records = the p2p listen address, or
  every non-loopback IPv4 address of the host when the node listens on a wildcard address.
- **Browse** ``_p2pdb._tcp.local.``: each service added or updated is resolved; one of our network id
  that is not ourselves gives ``replicator.add_known("IP:PORT")`` per IPv4 address. The replicator
  dials known addresses while it has fewer than ``target_peers`` peers; the Noise handshake (network
  id, network key) decides who is admitted, so mDNS is only a hint and a forged announcement can at
  worst make the node dial an address.

mDNS runs only on the interfaces that carry the announced addresses (IPv4 only), never on loopback.
Discovery problems (no usable interface, a name conflict) are logged and leave the node running:
bootstrap addresses and peer exchange still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)

SERVICE_TYPE = "_p2pdb._tcp.local."
DISCOVERY_VERSION = "1"
RESOLVE_TIMEOUT_MS = 3000
STOP_TIMEOUT = 3.0
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


class _Replicator(Protocol):
    """What discovery needs from :class:`p2pdb.net.replicator.Replicator`."""

    host: str
    port: int
    network_id: str

    @property
    def identity(self) -> Any: ...

    def add_known(self, address: str) -> None: ...


def lan_addresses() -> list[str]:
    """This host's (this network namespace's) IPv4 addresses that other hosts can reach:
    neither loopback nor link-local."""
    import ifaddr  # a dependency of zeroconf

    out: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not ip.is_IPv4 or not isinstance(ip.ip, str):
                continue
            address = ipaddress.IPv4Address(ip.ip)
            if not (address.is_loopback or address.is_link_local) and ip.ip not in out:
                out.append(ip.ip)
    return out


def announced_addresses(host: str) -> list[str]:
    """The IPv4 addresses to announce for a listener on ``host`` (empty: not reachable on a LAN)."""
    if host in WILDCARDS:
        return lan_addresses()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return []  # a host name: not announced (the listener's address is not known here)
    if address.version != 4 or address.is_loopback:
        return []
    return [host]


class Discovery:
    """mDNS announce and browse for one node. ``start()`` then ``stop()``; not restartable."""

    def __init__(self, replicator: _Replicator) -> None:
        self.replicator = replicator
        self.peer_id: str = replicator.identity.peer_id
        self.network_id = replicator.network_id
        #: Peers of our network seen so far: peer id -> "IP:PORT" addresses handed to the replicator.
        self.found: dict[str, set[str]] = {}
        #: Services of other networks (or malformed) that were ignored.
        self.ignored = 0
        self.addresses: list[str] = []
        self._zc: Any = None
        self._browser: Any = None
        self._info: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resolving: set[str] = set()

    @property
    def service_name(self) -> str:
        return f"{self.peer_id}.{SERVICE_TYPE}"

    async def start(self) -> None:
        from zeroconf import IPVersion, ServiceStateChange
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

        self.addresses = announced_addresses(self.replicator.host)
        if not self.addresses:
            log.warning(
                "mDNS discovery off: the p2p listener %s is not reachable from a LAN"
                " (listen on 0.0.0.0 or a LAN address)",
                self.replicator.host,
            )
            return
        try:
            self._zc = AsyncZeroconf(interfaces=list(self.addresses), ip_version=IPVersion.V4Only)
        except OSError as exc:
            log.warning("mDNS discovery off: cannot open the mDNS sockets: %s", exc)
            return
        self._info = AsyncServiceInfo(
            SERVICE_TYPE,
            self.service_name,
            port=self.replicator.port,
            properties={"id": self.peer_id, "net": self.network_id, "v": DISCOVERY_VERSION},
            server=f"{self.peer_id}.local.",
            parsed_addresses=list(self.addresses),
        )

        def on_change(**kwargs: Any) -> None:
            if kwargs["state_change"] in (ServiceStateChange.Added, ServiceStateChange.Updated):
                self._spawn(self._resolve(kwargs["name"]))

        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE, handlers=[on_change])
        self._spawn(self._announce())
        log.info(
            "mDNS: announcing %s on %s port %d", SERVICE_TYPE, ", ".join(self.addresses), self.replicator.port
        )

    async def _announce(self) -> None:
        from zeroconf import NonUniqueNameException

        try:
            # the first await registers; the returned task finishes once probing and announcing did
            await (await self._zc.async_register_service(self._info))
        except NonUniqueNameException:
            log.warning(
                "mDNS: another host announces our peer id %s (a copied data directory?)", self.peer_id
            )
        except OSError as exc:
            log.warning("mDNS: cannot announce: %s", exc)

    async def _resolve(self, name: str) -> None:
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncServiceInfo

        if name in self._resolving or name.lower() == self.service_name.lower():
            return
        self._resolving.add(name)
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS):
                log.debug("mDNS: cannot resolve %s", name)
                return
            properties = info.decoded_properties
            peer, network = properties.get("id"), properties.get("net")
            if not peer or peer == self.peer_id or info.port is None:
                return
            if network != self.network_id:
                self.ignored += 1
                log.debug("mDNS: ignoring %s of network %r", peer, network)
                return
            known = self.found.setdefault(peer, set())
            for ip in info.parsed_addresses(IPVersion.V4Only):
                address = f"{ip}:{info.port}"
                if address not in known:
                    known.add(address)
                    log.info("mDNS: found peer %s at %s", peer, address)
                self.replicator.add_known(address)
        finally:
            self._resolving.discard(name)

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Say goodbye (unregister), stop browsing and close the sockets, bounded in time."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._zc is None:
            return
        with contextlib.suppress(Exception):
            if self._browser is not None:
                await asyncio.wait_for(self._browser.async_cancel(), STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._zc.async_unregister_all_services(), STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._zc.async_close(), STOP_TIMEOUT)
        self._zc = None
