"""Only the clinic's monitor gateways may send the MLLP listener messages: a connection from an
address outside KETACLINIC_MLLP_ALLOWED_PEERS is closed before anything is read, so no one else
on the network can put readings on the patient in a chair."""

import asyncio
from collections.abc import Sequence
from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from ketaclinic.integrations.mllp_listener import GroupCommitter, handle_connection, peer_allowed
from ketaclinic.integrations.monitor_feed import Answer, Incoming
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from ketaclinic.settings import Settings, describe_invalid
from tests.integrations.test_pcd01 import PCD01
from tests.own_loop import run_in_own_loop


def test_an_address_is_admitted_only_from_an_allowed_network() -> None:
    networks = Settings(mllp_allowed_peers="10.20.0.0/16, 192.168.1.7,::1").mllp_peer_networks
    assert peer_allowed("10.20.3.4", networks) and peer_allowed("192.168.1.7", networks)
    assert peer_allowed("::ffff:10.20.9.9", networks) and peer_allowed("::1", networks)
    assert not peer_allowed("10.21.0.1", networks) and not peer_allowed("192.168.1.8", networks)
    assert not peer_allowed("127.0.0.1", networks) and not peer_allowed("not-an-ip", networks)
    assert Settings().mllp_peer_networks == (ip_network("127.0.0.0/8"), ip_network("::1"))


def test_a_setting_that_is_not_a_network_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(mllp_allowed_peers="10.20.0.0/16, gateway-room")
    line = describe_invalid(refused.value)
    assert "KETACLINIC_MLLP_ALLOWED_PEERS" in line and "'gateway-room' is not an address" in line


def _exchange(allowed: str) -> tuple[bytes, list[Incoming]]:
    """What the listener answers one message from 127.0.0.1, and what it stored."""
    stored: list[Incoming] = []

    def store(messages: Sequence[Incoming]) -> list[Answer]:
        stored.extend(messages)
        return [Answer("AA", "", "MSG0001") for _ in messages]

    async def run() -> bytes:
        committer = GroupCommitter(store, max_messages=10, wait_s=0)
        networks = Settings(mllp_allowed_peers=allowed).mllp_peer_networks
        server = await asyncio.start_server(
            lambda r, w: handle_connection(r, w, committer, networks), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame(PCD01))
            await writer.drain()
            reply = b""
            while MLLP_END not in reply:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 10)
                except ConnectionResetError:  # closed with the message unread
                    break
                if not chunk:
                    break
                reply += chunk
            writer.close()
            return reply

    return run_in_own_loop(run), stored


def test_a_gateway_outside_the_allowed_networks_is_closed_unread() -> None:
    reply, stored = _exchange("10.20.0.0/16")
    assert reply == b"" and stored == []
    reply, stored = _exchange("127.0.0.1")
    assert b"MSA|AA|MSG0001" in reply and len(stored) == 1
