"""MSH as data (`MessageHeader`), and the checks that decide AE (invalid) versus AR (unsupported).

`salvage_header` reads what it can from a message that failed to parse, so the ACK can still echo
MSH-10 and answer in the sender's version and delimiters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.hl7v2.encoding import STANDARD, Encoding
from adapters.hl7v2.errors import Hl7Rejected, Hl7Unsupported
from adapters.hl7v2.message import Chunk, Hl7Message

SUPPORTED_VERSIONS = frozenset(
    {"2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)
# HL7 table 0076 (message types), v2.2 to v2.8.
MESSAGE_TYPES = frozenset(
    {
        "ACK",
        "ADR",
        "ADT",
        "BAR",
        "BPS",
        "BRP",
        "BRT",
        "BTS",
        "CCF",
        "CCI",
        "CCM",
        "CCQ",
        "CCU",
        "CQU",
        "CRM",
        "CSU",
        "DBC",
        "DBU",
        "DEL",
        "DFT",
        "DOC",
        "DSR",
        "EAC",
        "EAN",
        "EAR",
        "EHC",
        "ESR",
        "ESU",
        "INR",
        "INU",
        "LSR",
        "LSU",
        "MDM",
        "MFD",
        "MFK",
        "MFN",
        "MFQ",
        "MFR",
        "NMD",
        "NMQ",
        "NMR",
        "OMB",
        "OMD",
        "OMG",
        "OMI",
        "OML",
        "OMN",
        "OMP",
        "OMQ",
        "OMS",
        "OPL",
        "OPR",
        "OPU",
        "ORA",
        "ORB",
        "ORD",
        "ORF",
        "ORG",
        "ORI",
        "ORL",
        "ORM",
        "ORN",
        "ORP",
        "ORR",
        "ORS",
        "ORU",
        "OSM",
        "OSQ",
        "OSR",
        "OUL",
        "PEX",
        "PGL",
        "PIN",
        "PMU",
        "PPG",
        "PPP",
        "PPR",
        "PPT",
        "PPV",
        "PRR",
        "PTR",
        "QBP",
        "QCK",
        "QCN",
        "QRY",
        "QSB",
        "QSX",
        "QVR",
        "RAR",
        "RAS",
        "RCI",
        "RCL",
        "RDE",
        "RDR",
        "RDS",
        "RDY",
        "REF",
        "RER",
        "RGR",
        "RGV",
        "ROC",
        "ROD",
        "ROR",
        "RPA",
        "RPI",
        "RPL",
        "RPR",
        "RQA",
        "RQC",
        "RQI",
        "RQP",
        "RSP",
        "RTB",
        "SDR",
        "SIU",
        "SLR",
        "SMD",
        "SQM",
        "SQR",
        "SRM",
        "SRR",
        "SSR",
        "SSU",
        "STC",
        "STI",
        "SUR",
        "TBR",
        "TCR",
        "TCU",
        "UDM",
        "VXQ",
        "VXR",
        "VXU",
        "VXX",
        "ERP",
        "EDR",
        "EQQ",
        "EQU",
        "ESQ",
        "CNQ",
    }
)
_VERSION_TEXT = re.compile(r"[0-9.]{1,12}")
_CONTROL_ID_LIMIT = 199


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """The MSH fields the gateway uses. Values are unescaped; none of them is PHI."""

    encoding: Encoding
    version: str = ""
    message_code: str = ""
    trigger: str = ""
    structure: str = ""
    control_id: str = ""
    processing_id: str = ""
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    accept_ack_type: str = ""
    application_ack_type: str = ""

    @property
    def enhanced_mode(self) -> bool:
        """True when MSH-15 or MSH-16 asks for enhanced acknowledgement (commit ACK CA/CE/CR)."""
        return bool(self.accept_ack_type or self.application_ack_type)

    @property
    def err_style_v25(self) -> bool:
        """True for v2.5 and later (ERR-2..ERR-8), False for v2.4 and earlier (ERR-1)."""
        parts = self.version.split(".")
        try:
            return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0) >= (2, 5)
        except ValueError:
            return True

    @property
    def message_type(self) -> str:
        """``ADT^A08`` style, for logs and facts."""
        return f"{self.message_code}^{self.trigger}" if self.trigger else self.message_code


def read_header(message: Hl7Message) -> MessageHeader:
    """The header of a parsed message (no checks)."""
    msh = message.msh
    return MessageHeader(
        encoding=message.encoding,
        version=msh.value(12),
        message_code=msh.value(9, 1).upper(),
        trigger=msh.value(9, 2).upper(),
        structure=msh.value(9, 3).upper(),
        control_id=msh.value(10)[:_CONTROL_ID_LIMIT],
        processing_id=msh.value(11),
        sending_application=msh.value(3),
        sending_facility=msh.value(4),
        receiving_application=msh.value(5),
        receiving_facility=msh.value(6),
        accept_ack_type=msh.value(15).upper(),
        application_ack_type=msh.value(16).upper(),
    )


def salvage_header(chunk: Chunk) -> MessageHeader:
    """Whatever MSH fields can be read from a message that did not parse; defaults otherwise."""
    line = chunk.lines[0] if chunk.lines else ""
    if not line.startswith("MSH") or len(line) < 5:
        return MessageHeader(encoding=STANDARD)
    separator = line[3]
    parts = ["MSH", separator, *line[4:].split(separator)]
    try:
        encoding = Encoding.from_msh(separator, parts[2])
    except ValueError:
        encoding = STANDARD
    components = STANDARD.component if encoding is STANDARD else encoding.component

    def get(position: int, component: int = 1) -> str:
        if position >= len(parts):
            return ""
        pieces = parts[position].split(components)
        text = pieces[component - 1] if len(pieces) >= component else ""
        return "".join(char for char in text if char.isprintable()).strip()

    version = get(12)
    return MessageHeader(
        encoding=encoding,
        version=version if _VERSION_TEXT.fullmatch(version) else "",
        message_code=get(9).upper()[:3],
        trigger=get(9, 2).upper()[:3],
        control_id=get(10)[:_CONTROL_ID_LIMIT],
        processing_id=get(11)[:3],
        sending_application=get(3)[:60],
        sending_facility=get(4)[:60],
        receiving_application=get(5)[:60],
        receiving_facility=get(6)[:60],
        accept_ack_type=get(15).upper()[:2],
        application_ack_type=get(16).upper()[:2],
    )


def check_header(header: MessageHeader) -> None:
    """Raise `Hl7Rejected` (AE) for a missing required MSH field and `Hl7Unsupported` (AR) for a
    message type, processing id or version the gateway does not take."""
    if not header.message_code:
        raise Hl7Rejected("MSH-9 message type is missing", hl7_code="101", location=("MSH", 1, 9))
    if not header.control_id:
        raise Hl7Rejected("MSH-10 message control id is missing", hl7_code="101", location=("MSH", 1, 10))
    if not header.processing_id:
        raise Hl7Rejected("MSH-11 processing id is missing", hl7_code="101", location=("MSH", 1, 11))
    if not header.version:
        raise Hl7Rejected("MSH-12 version id is missing", hl7_code="101", location=("MSH", 1, 12))
    if header.version not in SUPPORTED_VERSIONS:
        shown = header.version if _VERSION_TEXT.fullmatch(header.version) else "?"
        raise Hl7Unsupported(
            f"MSH-12 version {shown[:12]} is not supported (2.2 to 2.8)",
            hl7_code="203",
            location=("MSH", 1, 12),
        )
    if header.message_code not in MESSAGE_TYPES:
        shown = header.message_code if header.message_code.isalnum() else "?"
        raise Hl7Unsupported(
            f"MSH-9 message type {shown[:3]} is not supported", hl7_code="200", location=("MSH", 1, 9)
        )
    if not header.trigger and header.message_code != "ACK":
        raise Hl7Rejected("MSH-9.2 trigger event is missing", hl7_code="101", location=("MSH", 1, 9))
    if header.processing_id[:1] not in ("P", "T", "D"):
        raise Hl7Unsupported(
            "MSH-11 processing id must be P, T or D", hl7_code="202", location=("MSH", 1, 11)
        )
