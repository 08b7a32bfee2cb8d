"""Running the server: one process, or several on one port (PostgreSQL).

Several processes each listen on a socket of their own, bound to the same address with
SO_REUSEPORT, so the kernel spreads new connections evenly between them. With one shared socket
(uvicorn's supervisor), the process that wakes first accepts every pending connection in one
go: under 16 keep-alive clients one process served 90 % of the requests while the other idled.
"""

import logging
import multiprocessing
import signal
import socket
import sys
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from ketaclinic.web.access_log import log_config

APP = "ketaclinic.app:create_served_app"
BACKLOG = 2048
STARTUP_FAILURE = 3  # uvicorn's exit code when a process could not start serving
RESTART_PAUSE_S = 1.0
STOP_GRACE_S = 30.0

logger = logging.getLogger("uvicorn.error")


def _config(host: str, port: int, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(APP, factory=True, host=host, port=port, proxy_headers=True,
                          log_level="info", access_log=access_log, log_config=log_config())


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, (str(address[0]), int(address[1]))


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port that other processes may bind too (SO_REUSEPORT).

    Created as TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only then, and
    without it every keep-alive answer after the first waits for the client's delayed ACK, about
    40 ms on Linux (uvicorn issue 3149)."""
    family, address = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _someone_listens(host: str, port: int) -> bool:
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(address) == 0


def _serve_one(host: str, port: int, access_log: bool) -> None:
    """A server process: its own listening socket on the shared port, then uvicorn on it."""
    sock = shared_port_socket(host, port)
    sock.listen(BACKLOG)
    uvicorn.Server(_config(host, port, access_log)).run(sockets=[sock])


def serve(*, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve the app until stopped, in `workers` processes."""
    if workers == 1:
        uvicorn.Server(_config(host, port, access_log)).run()
        return
    if _someone_listens(host, port):
        # SO_REUSEPORT would let these processes join another server on the port unnoticed.
        raise SystemExit(f"error: port {port} on {host} is already in use")
    # Bound but not listening, this socket takes no connections; it refuses the port early when
    # a program without SO_REUSEPORT holds it, instead of every process failing on its own.
    reserved = shared_port_socket(host, port)
    try:
        Supervisor(host, port, workers, access_log).run()
    finally:
        reserved.close()


class Supervisor:
    """Starts the server processes, replaces one that dies, and stops them all on SIGINT or
    SIGTERM (each finishes its requests in flight first)."""

    def __init__(self, host: str, port: int, workers: int, access_log: bool) -> None:
        self._args = (host, port, access_log)
        self._count = workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = False

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=_serve_one, args=self._args, daemon=False)
        process.start()
        logger.info("Started server process [%s]", process.pid)
        return process

    def _stop_on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("Received %s, stopping the server processes.", signal.Signals(signum).name)
        self._stopping = True

    def run(self) -> None:
        """Run until a stop signal, or until a process cannot start at all."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop_on_signal)
        self._processes = [self._start() for _ in range(self._count)]
        while not self._stopping:
            time.sleep(0.5)
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    logger.error("Server process [%s] could not start; stopping.", process.pid)
                    self._stopping = True
                    break
                logger.warning("Server process [%s] exited (%s); starting another.",
                               process.pid, process.exitcode)
                time.sleep(RESTART_PAUSE_S)
                self._processes[index] = self._start()
        self._stop_all()

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        if any(p.exitcode == STARTUP_FAILURE for p in self._processes):
            sys.exit(STARTUP_FAILURE)
