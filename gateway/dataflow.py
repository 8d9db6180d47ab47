"""The data-flow diagram of the running configuration: every source, stage, store and sink, what
class of data crosses each edge (PHI before redaction, none after) and how it is protected at rest
and in transit.

It is built by introspecting a `Runtime`, so parts other areas add show up on their own:

- a `BackgroundService` (listener, watcher, poller) or a `Sink` may define ``dataflow_node()``
  returning a `FlowPart` (its nodes and edges; the `DataflowContributor` protocol). A source
  usually returns one ``source`` node and an edge into ``normalize`` carrying ``PHI``; a sink one
  ``sink`` node and an edge from ``spool`` carrying ``PHI-free``.
- a service without the hook still appears, as a source whose edge is marked ``PHI (assumed)``
  with unknown transport: deny by default, so an undocumented input is never drawn as safe.

``rcmgw dataflow --format mermaid|dot|json`` and ``GET /v1/dataflow`` render it; docs/dataflow.md
holds the default configuration's diagram and a test keeps it equal to the live output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

from gateway.runtime import Runtime

NodeKind = Literal["source", "stage", "store", "sink"]
PHI = "PHI"
PHI_FREE = "PHI-free"
METADATA = "ids and codes only"
IN_PROCESS = "in process"


@dataclass(frozen=True, slots=True)
class FlowNode:
    """A box in the diagram. ``at_rest`` says how stored data is protected (stores and sinks)."""

    id: str
    kind: NodeKind
    label: str
    at_rest: str | None = None


@dataclass(frozen=True, slots=True)
class FlowEdge:
    """An arrow: ``data`` is the class of data crossing it, ``in_transit`` its protection."""

    source: str
    target: str
    data: str
    in_transit: str


@dataclass
class FlowPart:
    """Nodes and edges one component contributes."""

    nodes: list[FlowNode] = field(default_factory=list)
    edges: list[FlowEdge] = field(default_factory=list)


@runtime_checkable
class DataflowContributor(Protocol):
    """Implemented by services and sinks that describe their own place in the data flow."""

    def dataflow_node(self) -> FlowPart:
        """This component's nodes and the edges that connect it to ``normalize`` or ``spool``."""
        ...


def _http_transit(host: str) -> str:
    if host in ("127.0.0.1", "::1", "localhost"):
        return "HTTP on loopback"
    return "HTTP (terminate TLS in a proxy in front)"


def _core(runtime: Runtime) -> FlowPart:
    transit = _http_transit(runtime.settings.http_host)
    aes = "AES-256-GCM"
    nodes = [
        FlowNode("http_events", "source", "HTTP API: JSON events, X12 and HL7 uploads, FHIR push"),
        FlowNode("cli_ingest", "source", "rcmgw ingest (JSON event, X12 and HL7 v2 files)"),
        FlowNode("normalize", "stage", "normalize"),
        FlowNode("redact", "stage", "redact and pseudonymize (seal)"),
        FlowNode("quarantine", "store", "quarantine (rejected raw input)", at_rest=aes),
        FlowNode("spool", "store", "spool (sealed tickets)", at_rest=aes),
        FlowNode("audit", "store", "audit log", at_rest="HMAC chain, not encrypted (holds no PHI)"),
        FlowNode("auth_db", "store", "auth db (sessions, principals)", at_rest="session ids hashed"),
    ]
    edges = [
        FlowEdge("http_events", "normalize", PHI, transit),
        FlowEdge("cli_ingest", "normalize", PHI, "local file"),
        FlowEdge("normalize", "redact", PHI, IN_PROCESS),
        FlowEdge("normalize", "quarantine", PHI, IN_PROCESS),
        FlowEdge("redact", "quarantine", PHI, IN_PROCESS),
        FlowEdge("redact", "spool", PHI_FREE, IN_PROCESS),
        FlowEdge("redact", "audit", METADATA, IN_PROCESS),
        FlowEdge("http_events", "auth_db", METADATA, IN_PROCESS),
    ]
    if runtime.security is not None and runtime.security.saml is not None:
        nodes.append(FlowNode("saml_idp", "source", "SAML IdP (people's sign-in)"))
        edges.append(FlowEdge("saml_idp", "auth_db", METADATA, "browser POST, signed assertion"))
    if runtime.security is not None and runtime.security.auth.external:
        nodes.append(FlowNode("oauth_issuer", "source", "OAuth 2.0 issuer (JWKS, introspection)"))
        edges.append(FlowEdge("oauth_issuer", "http_events", "signing keys, token status", "HTTPS"))
    return FlowPart(nodes, edges)


def _sink_part(name: str, sink: object) -> FlowPart:
    if isinstance(sink, DataflowContributor):
        return sink.dataflow_node()
    node_id = f"sink_{name}"
    kind_name = type(sink).__name__
    if kind_name == "FileSink":
        node = FlowNode(node_id, "sink", f"{name}: JSONL outbox file", at_rest="plaintext file (PHI-free)")
        transit = "local file"
    else:
        node = FlowNode(node_id, "sink", f"{name}: {kind_name}", at_rest="remote system")
        transit = "unknown: see the sink's settings"
    return FlowPart([node], [FlowEdge("spool", node_id, PHI_FREE, transit)])


def _service_part(service: object) -> FlowPart:
    if isinstance(service, DataflowContributor):
        return service.dataflow_node()
    name = str(getattr(service, "name", type(service).__name__))
    node_id = "service_" + "".join(c if c.isalnum() else "_" for c in name)
    return FlowPart(
        [FlowNode(node_id, "source", f"{name} (no data-flow description)")],
        [FlowEdge(node_id, "normalize", "PHI (assumed)", "unknown")],
    )


@dataclass
class Dataflow:
    """The whole diagram."""

    nodes: list[FlowNode]
    edges: list[FlowEdge]

    def to_json(self) -> str:
        """Nodes and edges as JSON."""
        body = {"nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges]}
        return json.dumps(body, indent=2) + "\n"

    def to_mermaid(self) -> str:
        """A Mermaid flowchart."""
        shapes = {
            "source": ('(["', '"])'),
            "stage": ('["', '"]'),
            "store": ('[("', '")]'),
            "sink": ('[["', '"]]'),
        }
        lines = ["flowchart LR"]
        for kind in ("source", "stage", "store", "sink"):
            members = [n for n in self.nodes if n.kind == kind]
            if not members:
                continue
            lines.append(f"  subgraph {kind}s")
            for node in members:
                opening, closing = shapes[kind]
                label = node.label + (f"<br/>at rest: {node.at_rest}" if node.at_rest else "")
                lines.append(f"    {node.id}{opening}{_mermaid_text(label)}{closing}")
            lines.append("  end")
        for edge in self.edges:
            style = "==>" if edge.data.startswith(PHI) and edge.data != PHI_FREE else "-->"
            text = _mermaid_text(f"{edge.data} · {edge.in_transit}")
            lines.append(f'  {edge.source} {style}|"{text}"| {edge.target}')
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz digraph."""
        shapes = {"source": "oval", "stage": "box", "store": "cylinder", "sink": "box3d"}
        lines = ["digraph rcmgw {", "  rankdir=LR;"]
        for node in self.nodes:
            label = node.label + (f"\\nat rest: {node.at_rest}" if node.at_rest else "")
            lines.append(f'  {node.id} [shape={shapes[node.kind]}, label="{_dot_text(label)}"];')
        for edge in self.edges:
            color = "red" if edge.data.startswith(PHI) and edge.data != PHI_FREE else "darkgreen"
            text = _dot_text(f"{edge.data}\\n{edge.in_transit}")
            lines.append(f'  {edge.source} -> {edge.target} [label="{text}", color={color}];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, fmt: str) -> str:
        """``mermaid``, ``dot`` or ``json``."""
        renderers = {"mermaid": self.to_mermaid, "dot": self.to_dot, "json": self.to_json}
        if fmt not in renderers:
            raise ValueError(f"unknown format {fmt!r}; use mermaid, dot or json")
        return renderers[fmt]()


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def _dot_text(text: str) -> str:
    return text.replace('"', '\\"')


def build_dataflow(runtime: Runtime) -> Dataflow:
    """The diagram of ``runtime``'s configuration."""
    parts = [_core(runtime)]
    parts.extend(_service_part(service) for service in runtime.services)
    parts.extend(_sink_part(name, sink) for name, sink in runtime.sinks.items())
    parts.append(FlowPart([], [FlowEdge("spool", "audit", METADATA, IN_PROCESS)]))
    nodes: dict[str, FlowNode] = {}
    edges: list[FlowEdge] = []
    for part in parts:
        for node in part.nodes:
            nodes.setdefault(node.id, node)
        edges.extend(edge for edge in part.edges if edge not in edges)
    return Dataflow(list(nodes.values()), edges)
