"""The data-flow diagram: the committed default diagram equals the live one; PHI stops at
redaction; components added by other areas appear through their hook (or as PHI by default)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from testkit import REPO
from typer.testing import CliRunner

from gateway.cli import app
from gateway.dataflow import FlowEdge, FlowNode, FlowPart, build_dataflow
from gateway.runtime import Runtime
from gateway.settings import Settings


def _committed_mermaid() -> str:
    text = (REPO / "docs" / "dataflow.md").read_text("utf-8")
    match = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert match, "docs/dataflow.md has no mermaid block"
    return match.group(1)


def test_committed_diagram_matches_the_live_default_configuration(home: Path, settings: Settings) -> None:
    result = CliRunner().invoke(app, ["dataflow", "--format", "mermaid"], env={"RCMGW_HOME": str(home)})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == _committed_mermaid(), "regenerate docs/dataflow.md (see its header)"


def test_phi_never_crosses_an_edge_after_redaction(settings: Settings) -> None:
    flow = build_dataflow(Runtime.build(settings))
    downstream = {"spool"} | {n.id for n in flow.nodes if n.kind == "sink"}
    for edge in flow.edges:
        if edge.source in downstream or edge.target in downstream:
            assert edge.data in ("PHI-free", "ids and codes only"), edge
    assert FlowEdge("redact", "spool", "PHI-free", "in process") in flow.edges
    kinds = {n.kind for n in flow.nodes}
    assert kinds == {"source", "stage", "store", "sink"}
    assert all(n.at_rest for n in flow.nodes if n.kind in ("store", "sink"))


class _DescribedListener:
    name = "mllp"

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...

    def dataflow_node(self) -> FlowPart:
        return FlowPart(
            [FlowNode("mllp", "source", "HL7 v2 over MLLP :2575")],
            [FlowEdge("mllp", "normalize", "PHI", "MLLP over TLS")],
        )


class _SilentPoller:
    name = "fhir-poller"

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...


def test_services_appear_by_hook_or_as_assumed_phi(settings: Settings) -> None:
    runtime = Runtime.build(settings)
    runtime.services.extend([_DescribedListener(), _SilentPoller()])
    flow = build_dataflow(runtime)
    assert FlowEdge("mllp", "normalize", "PHI", "MLLP over TLS") in flow.edges
    assert FlowEdge("service_fhir_poller", "normalize", "PHI (assumed)", "unknown") in flow.edges
    assert "service_fhir_poller" in flow.to_mermaid() and "service_fhir_poller" in flow.to_dot()


def test_formats(settings: Settings) -> None:
    flow = build_dataflow(Runtime.build(settings))
    body = json.loads(flow.to_json())
    assert {n["id"] for n in body["nodes"]} >= {"http_events", "normalize", "redact", "spool", "sink_file"}
    assert flow.to_dot().startswith("digraph rcmgw {")


def test_dataflow_route_requires_audit_read(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/v1/dataflow").status_code == 401
    writer = runtime.issuer.mint("w", ["events:write"])
    assert client.get("/v1/dataflow", headers={"Authorization": f"Bearer {writer}"}).status_code == 403
    for scope in ("audit:read", "admin"):
        token = runtime.issuer.mint("a", [scope])
        response = client.get("/v1/dataflow?format=mermaid", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.text.startswith("flowchart LR")
