"""The MLLP listener as a real process: ACK after commit, bad messages kept, durable through SIGKILL."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ketaclinic.db import make_engine
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.integrations.pcd01 import MLLP_END, frame
from tests.cli_helpers import run_cli
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database_url
from tests.integrations.test_pcd01 import PCD01, unreadable
from tests.server_helpers import clock_env, free_port


def open_session_at_chair_1(url: str) -> None:
    """Check a demo patient of HPC in at Chair 1 with a course signed to start."""
    engine = make_engine(url)
    with Session(engine) as db:
        open_demo_session(db, site_code="HPC", chair_name="Chair 1")
        db.commit()
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def listener(request: pytest.FixtureRequest, tmp_path):
    url = fresh_database_url(request.param, tmp_path)
    for args in (("db", "upgrade"), ("demo", "--patients", "6")):
        assert run_cli(url, *args).returncode == 0
    open_session_at_chair_1(url)
    port = free_port()
    env = {**os.environ, "KETACLINIC_DATABASE_URL": url, **clock_env()}
    process = subprocess.Popen([sys.executable, "-m", "ketaclinic.cli", "mllp", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url, port, process
    if process.poll() is None:
        process.kill()
    process.wait()
    if request.param == "postgresql":
        drop_postgres_database(url)


def message(number: int) -> str:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    return (PCD01.replace("MSG0001", f"MSG{number:04d}").replace("HPC^Chair 2^1", "HPC^Chair 1^1")
            .replace("20261126140500-0500", now).replace("20261126140000-0500", now))


def send(connection: socket.socket, text_message: str) -> str:
    connection.sendall(frame(text_message))
    reply = b""
    while MLLP_END not in reply:
        chunk = connection.recv(65536)
        assert chunk, "the listener closed the connection"
        reply += chunk
    return reply.strip(b"\x0b\x1c\r").decode()


def msa(ack_text: str) -> list[str]:
    line = next(part for part in ack_text.split("\r") if part.startswith("MSA"))
    return line.split("|")


def test_readings_are_acknowledged_after_commit_and_alarm(listener) -> None:
    url, port, _ = listener
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        assert msa(send(connection, message(1)))[1:3] == ["AA", "MSG0001"]
        assert msa(send(connection, "MSH|^~\\&|X|Y|||20261126||ADT^A01|Q1|P|2.6\r"))[1] == "AR"
        partly = msa(send(connection, message(2).replace("|97|262688", "|130|262688")))
        assert partly[1] == "AA" and "(spo2_pct): 130 is outside" in partly[3]
        rejected = msa(send(connection, unreadable(message(3))))
        assert rejected[1] == "AE" and "value '---' is not a number" in rejected[3]
    engine = make_engine(url)
    with engine.connect() as conn:
        readings = conn.execute(text("SELECT count(*) FROM session_reading "
                                     "WHERE source = 'monitor' AND session_pk IS NOT NULL")).scalar()
        alarm = conn.execute(text("SELECT kind FROM session_alarm WHERE kind = 'systolic-high'")).scalar()
        kept = conn.execute(text("SELECT status, ack_code, reason FROM monitor_message "
                                 "ORDER BY pk")).all()
        spo2 = conn.execute(text("SELECT count(*) FROM session_reading WHERE spo2_pct = 130")
                            ).scalar()
    engine.dispose()
    assert readings >= 1 and alarm == "systolic-high"
    assert [tuple(row[:2]) for row in kept] == [("accepted", "AA"), ("rejected", "AR"),
                                                ("partial", "AA"), ("rejected", "AE")]
    assert kept[2][2].startswith("observations set aside: OBX 5 (spo2_pct): 130") and spo2 == 0


def test_every_acknowledged_message_survives_sigkill(listener) -> None:
    """Eight gateways send without pause, so messages are stored in groups, and the listener is
    killed mid-stream: every message acknowledged AA is stored with its readings."""
    import threading

    url, port, process = listener
    acknowledged: list[str] = []
    numbers = iter(range(1, 100_000))
    lock = threading.Lock()

    def gateway() -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
                while True:
                    with lock:
                        number = next(numbers)
                    reply = msa(send(connection, message(number)))
                    assert reply[1] == "AA", reply
                    with lock:
                        acknowledged.append(reply[2])
        except (AssertionError, OSError):
            pass  # the listener is gone (its last answers may be cut off)

    gateways = [threading.Thread(target=gateway) for _ in range(8)]
    for thread in gateways:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    for thread in gateways:
        thread.join(timeout=30)
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT m.control_id, count(r.pk) FROM monitor_message m "
            "LEFT JOIN session_reading r ON r.message_pk = m.pk "
            "WHERE m.ack_code = 'AA' GROUP BY m.control_id")).all())
        groups = conn.execute(text(
            "SELECT count(*) FROM audit_event WHERE detail LIKE 'monitor messages %'")).scalar()
    engine.dispose()
    assert len(acknowledged) >= 200
    missing = [c for c in acknowledged if not stored.get(c)]
    assert not missing, f"acknowledged but not stored with readings: {missing[:5]}"
    assert groups >= 1, "messages were stored in groups"
