"""The MLLP listener for bedside-monitor gateways: store each message, commit, then acknowledge."""

import asyncio
import logging

from ketaclinic.db import unit_of_work
from ketaclinic.integrations import monitor_feed
from ketaclinic.integrations.pcd01 import MLLP_END, MLLP_START, ack, frame

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 1_000_000


def _store(raw: str, peer: str) -> tuple[str, str, str]:
    """Ingest one message in its own transaction; it is committed before this returns."""
    with unit_of_work() as db:
        return monitor_feed.ingest(db=db, raw=raw, peer=peer)


async def _answer(raw: str, peer: str) -> bytes:
    try:
        code, reason, control_id = await asyncio.to_thread(_store, raw, peer)
    except Exception:  # the database refused or is unreachable: nothing was stored
        log.exception("could not store a message from %s", peer)
        code, reason, control_id = "AE", "the clinic could not store the message; send it again", ""
    return frame(ack(raw, code, control_id=control_id, reason=reason))


async def handle_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one gateway connection: each framed message gets its ACK once it is committed."""
    address = writer.get_extra_info("peername")
    peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
    buffer = b""
    try:
        while chunk := await reader.read(65536):
            buffer += chunk
            while MLLP_END in buffer:
                block, buffer = buffer.split(MLLP_END, 1)
                start = block.find(MLLP_START)
                raw = (block[start + 1:] if start >= 0 else block).decode("utf-8", "replace")
                writer.write(await _answer(raw, peer))
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
    server = await asyncio.start_server(handle_connection, host, port)
    async with server:
        await server.serve_forever()
