"""Auto-resolve from X12 evidence, end to end through ``POST /v1/ingest/x12`` with the dedup
lifecycle on (the default): a 277CA rejection or an 835 denial opens a ticket; a later 277CA
acceptance or 835 payment of the same claim (matched by its pseudonym, not its clear value) spools
one resolve update of that ticket; evidence for a claim that opened nothing spools nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient
from gatewayproc import wait_until
from testkit import REPO, find_canaries

from gateway.runtime import Runtime
from normalizers.payload import LifecycleKind, TicketPayload

FIXTURES = REPO / "fixtures" / "x12"
X12 = {"Content-Type": "application/edi-x12"}


def _delivered(runtime: Runtime, count: int) -> list[TicketPayload]:
    """The first ``count`` tickets the file sink delivered (waits for the delivery worker)."""
    outbox = runtime.settings.outbox_file

    def lines() -> list[str]:
        return outbox.read_text("utf-8").splitlines() if outbox.exists() else []

    wait_until(lambda: len(lines()) >= count, 10, f"{count} delivered tickets")
    return [TicketPayload.model_validate_json(line) for line in lines()]


def _post(client: TestClient, headers: dict[str, str], name: str) -> dict[str, object]:
    response = client.post(
        "/v1/ingest/x12", content=(FIXTURES / name).read_bytes(), headers={**headers, **X12}
    )
    assert response.status_code == 202, response.text
    assert find_canaries(response.text) == []
    body: dict[str, object] = response.json()
    return body


def _resolve_after(
    client: TestClient, runtime: Runtime, headers: dict[str, str], opener: str, evidence: str
) -> None:
    opened = _post(client, headers, opener)
    [ticket] = opened["tickets"]  # type: ignore[misc]
    assert opened["resolved"] == []
    resolved = _post(client, headers, evidence)
    assert resolved["tickets"] == [] and resolved["new_tickets"] == 0
    assert resolved["evidence"] == 1
    assert resolved["resolved"] == [{**ticket, "duplicate": False}]
    payloads = _delivered(runtime, 2)
    assert len(payloads) == 2
    first, closing = payloads
    assert first.id == ticket["ticket_id"] and first.lifecycle and first.lifecycle.kind is LifecycleKind.OPEN
    assert closing.lifecycle is not None and closing.lifecycle.kind is LifecycleKind.RESOLVE
    assert closing.lifecycle.of == first.id and closing.fingerprint == first.fingerprint
    assert find_canaries(runtime.settings.outbox_file.read_text("utf-8")) == []
    # Re-posting the evidence resolves nothing new: the ticket is no longer open.
    again = _post(client, headers, evidence)
    assert again["resolved"] == [] and again["evidence"] == 1
    assert len(_delivered(runtime, 2)) == 2


def test_277ca_acceptance_resolves_the_rejection_ticket_of_the_same_claim(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    # The acceptance carries a different payer claim number (REF*1K) than the rejection: the claim
    # is matched by its own reference (TRN02 = CLM01) only.
    _resolve_after(client, runtime, writer_headers, "277ca-a7-562.277", "277ca-resubmitted-accepted.277")


def test_835_payment_resolves_the_denial_ticket_of_the_same_claim(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    # The payment is a reprocessed claim with a new payer control number (CLP07): matched by CLP01.
    _resolve_after(client, runtime, writer_headers, "denial-co97.835", "paid-after-denial.835")


def test_evidence_for_an_unknown_claim_spools_nothing(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    _post(client, writer_headers, "denial-co97.835")
    for name in ("277ca-accepted.277", "paid-routine.835"):
        body = _post(client, writer_headers, name)
        assert body["tickets"] == [] and body["resolved"] == [] and body["evidence"] == 1
    _post(client, writer_headers, "277ca-a7-562.277")  # a marker: delivered after anything before it
    payloads = _delivered(runtime, 2)
    assert len(payloads) == 2
    assert all(p.lifecycle and p.lifecycle.kind is LifecycleKind.OPEN for p in payloads)


def test_one_payment_resolves_every_open_ticket_of_its_claim(
    client: TestClient, runtime: Runtime, writer_headers: dict[str, str]
) -> None:
    """A claim rejected by the 277CA, resubmitted, then denied in the 835 and finally paid: the
    payment closes both tickets (CLP01 and the 277CA's TRN02 are the same CLM01)."""
    rejected = _post(client, writer_headers, "277ca-a7-562.277")["tickets"]
    denied = _post(client, writer_headers, "denial-co97.835")["tickets"]
    paid = _post(client, writer_headers, "paid-after-denial.835")
    ids = {t["ticket_id"] for t in [*rejected, *denied]}  # type: ignore[misc, index]
    assert {t["ticket_id"] for t in paid["resolved"]} == ids  # type: ignore[attr-defined, index]
