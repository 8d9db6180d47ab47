"""kill -9 of a real ``rcmgw serve`` during an MLLP stream: every message that got AA is delivered
after the restart (messages without AA are the sender's to resend)."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from gatewayproc import start_gateway, wait_until

# Every acknowledged message must come out as its own ticket here: the dedup lifecycle (which folds
# repeats of one problem into one ticket) is switched off; tests/gateway/test_lifecycle_pipeline.py
# covers it.
EVERY_RECORD = {"RCMGW_LIFECYCLE__ENABLED": "false"}

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def _dft(control_id: str) -> bytes:
    return (
        f"MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||DFT^P03|{control_id}|P|2.5.1\r"
        "PID|1||MRN1^^^H^MR||DOE^JANE|||||||||||ACCT1\r"
        "PV1|1|O|||||||||||||||||VIS1\r"
        "FT1|1|T1||20261101|20261101|CG||||1|10.00|10.00\r"
    ).encode()


def _stream(port: int, acked: list[str], stop: threading.Event) -> None:
    """Send DFTs one at a time; record the control ids answered with AA until the socket dies."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            number = 0
            while not stop.is_set():
                number += 1
                control_id = f"CRASH{number:05d}"
                sock.sendall(b"\x0b" + _dft(control_id) + b"\x1c\x0d")
                answer = b""
                while not answer.endswith(b"\x1c\x0d"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    answer += chunk
                if f"MSA|AA|{control_id}".encode() in answer:
                    acked.append(control_id)
    except OSError:
        return


def test_kill9_during_mllp_stream_loses_no_acknowledged_message(tmp_path: Path) -> None:
    home = tmp_path / "var"
    home.mkdir()
    gateway = start_gateway(home, **EVERY_RECORD)
    assert gateway.mllp_port is not None
    acked: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=_stream, args=(gateway.mllp_port, acked, stop), daemon=True)
    sender.start()
    try:
        wait_until(lambda: len(acked) >= 25, 60, "25 acknowledged messages")
        gateway.kill9()
    finally:
        stop.set()
        sender.join(timeout=15)
    acknowledged = set(acked)
    restarted = start_gateway(home, **EVERY_RECORD)
    try:

        def delivered() -> set[str]:
            ids = set()
            for line in restarted.outbox_lines():
                ticket = json.loads(line)
                text = json.dumps(ticket)
                ids |= {cid for cid in acknowledged if cid in text}
            return ids

        wait_until(lambda: delivered() == acknowledged, 60, "every acknowledged message delivered")
    finally:
        restarted.stop()
