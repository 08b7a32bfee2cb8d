"""The MLLP listener for bedside-monitor gateways: messages from every connection are stored a
group at a time, one transaction and one sync per group, and each is acknowledged only once its
group has committed.

Grouping is what lets one listener keep up with a network's monitors: a commit costs a sync of
the disk, so one commit per message caps the feed at the disk's syncs a second, while a group of
hundreds costs the same sync. While a group commits, the next gathers; a group also waits a few
milliseconds after its first message for others (MLLP_GROUP_WAIT_MS), and holds at most
MLLP_GROUP_MAX_MESSAGES.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address

from ketaclinic.db import unit_of_work
from ketaclinic.integrations import monitor_feed
from ketaclinic.integrations.monitor_feed import Answer, Incoming
from ketaclinic.integrations.pcd01 import MLLP_END, MLLP_START, ack, frame
from ketaclinic.settings import get_settings

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 1_000_000
NOT_STORED = "the clinic could not store the message; send it again"


def store_group(messages: Sequence[Incoming]) -> list[Answer]:
    """Ingest a group in one transaction; it is committed before this returns."""
    with unit_of_work() as db:
        return monitor_feed.ingest_group(db=db, messages=messages)


@dataclass
class GroupCommitter:
    """Gathers the messages of every connection and has `store` take them a group at a time,
    in a thread; each caller gets its message's answer once the group has committed, or AE for
    every message of a group the database refused (nothing of it was stored)."""

    store: Callable[[Sequence[Incoming]], list[Answer]]
    max_messages: int
    wait_s: float
    _waiting: list[tuple[Incoming, "asyncio.Future[Answer]"]] = field(default_factory=list)
    _full: asyncio.Event = field(default_factory=asyncio.Event)
    _drain: "asyncio.Task[None] | None" = None

    async def submit(self, incoming: Incoming) -> Answer:
        """The message's answer, once its group is stored."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((incoming, answer))
        if len(self._waiting) >= self.max_messages:
            self._full.set()
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._run())
        return await answer

    async def _run(self) -> None:
        try:
            # After a quiet spell the first message waits a moment for company; once groups
            # follow each other, the next gathers while the last one commits.
            if self.wait_s and len(self._waiting) < self.max_messages:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.wait_s)
            while self._waiting:
                group = self._waiting[:self.max_messages]
                del self._waiting[:self.max_messages]
                await self._store(group)
        finally:
            self._drain = None

    async def _store(self, group: list[tuple[Incoming, "asyncio.Future[Answer]"]]) -> None:
        try:
            answers = await asyncio.to_thread(self.store, [incoming for incoming, _ in group])
        except Exception:  # the database refused or is unreachable: nothing was stored
            log.exception("could not store a group of %d messages", len(group))
            answers = [Answer("AE", NOT_STORED, "") for _ in group]
        for (_, waiting), answer in zip(group, answers, strict=True):
            if not waiting.done():
                waiting.set_result(answer)


def peer_allowed(host: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Whether a connection from this address may send messages (an IPv4 address mapped into
    IPv6, as a dual-stack socket reports it, is read as IPv4)."""
    try:
        address = ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            committer: GroupCommitter,
                            allowed: Sequence[IPv4Network | IPv6Network]) -> None:
    """Serve one gateway connection: each framed message gets its ACK once it is committed. A
    connection from outside the allowed networks is closed before anything is read."""
    address = writer.get_extra_info("peername")
    peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
    if not (isinstance(address, tuple) and peer_allowed(str(address[0]), allowed)):
        log.warning("closed an MLLP connection from %s: not in KETACLINIC_MLLP_ALLOWED_PEERS",
                    peer)
        writer.close()
        return
    buffer = b""
    try:
        while chunk := await reader.read(65536):
            buffer += chunk
            while MLLP_END in buffer:
                block, buffer = buffer.split(MLLP_END, 1)
                start = block.find(MLLP_START)
                raw = (block[start + 1:] if start >= 0 else block).decode("utf-8", "replace")
                answer = await committer.submit(Incoming(raw, peer))
                writer.write(frame(ack(raw, answer.code, control_id=answer.control_id,
                                       reason=answer.reason, sender=answer.sender)))
                await writer.drain()
            if len(buffer) > MAX_MESSAGE_BYTES:
                log.warning("closing %s: more than %d bytes without an MLLP end", peer,
                            MAX_MESSAGE_BYTES)
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    """Listen until cancelled."""
    settings = get_settings()
    committer = GroupCommitter(store_group, settings.mllp_group_max_messages,
                               settings.mllp_group_wait_ms / 1000)
    server = await asyncio.start_server(
        lambda reader, writer: handle_connection(reader, writer, committer,
                                                 settings.mllp_peer_networks), host, port,
        backlog=1024)
    async with server:
        await server.serve_forever()
