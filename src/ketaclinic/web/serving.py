"""Running the server: one process, or several sharing one listening socket (PostgreSQL)."""

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from ketaclinic.web.access_log import log_config

APP = "ketaclinic.app:create_served_app"


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the workers share, marked as TCP. uvicorn leaves its protocol at 0, and asyncio
    then never sets TCP_NODELAY on accepted connections: every keep-alive answer after the first
    waits for the client's delayed ACK, about 40 ms on Linux (uvicorn issue 3149)."""
    bound = config.bind_socket()
    if bound.family not in (socket.AF_INET, socket.AF_INET6):
        return bound
    return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())


def serve(*, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the app until stopped, in `workers` processes."""
    config = uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers,
                            proxy_headers=True, log_level="info", access_log=access_log,
                            log_config=log_config())
    if workers == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[listening_socket(config)]).run()
