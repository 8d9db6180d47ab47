"""HL7 v2 encoding characters (MSH-1/MSH-2) and the escape sequences built on them.

A message names its own delimiters: MSH-1 is the field separator (the character right after
``MSH``), MSH-2 the component, repetition, escape and subcomponent characters (and, from v2.7, an
optional truncation character). Nothing here assumes ``|^~\\&``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

_FORMATTING = {".br": "\n", ".sp": "\n", ".in": "", ".ti": "", ".sk": " ", ".fi": "", ".nf": "", ".ce": ""}


@dataclass(frozen=True, slots=True)
class Encoding:
    """The delimiters of one message."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""

    @property
    def msh2(self) -> str:
        """MSH-2 as written: component, repetition, escape, subcomponent (+ truncation)."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    @classmethod
    def from_msh(cls, field_separator: str, msh2: str) -> Encoding:
        """The encoding declared by MSH-1/MSH-2; `ValueError` (PHI-free message) when invalid."""
        if len(field_separator) != 1 or field_separator.isalnum() or field_separator in "\r\n \t":
            raise ValueError("MSH-1 field separator is not a single non-alphanumeric character")
        if len(msh2) < 4 or len(msh2) > 5:
            raise ValueError(f"MSH-2 must hold 4 or 5 encoding characters, found {len(msh2)}")
        chars = field_separator + msh2
        if any(char.isalnum() or char in "\r\n \t" or not char.isprintable() for char in chars):
            raise ValueError("MSH-2 encoding characters must be printable, non-alphanumeric and not blank")
        if len(set(chars)) != len(chars):
            raise ValueError("MSH-1/MSH-2 encoding characters are not all distinct")
        return cls(field_separator, msh2[0], msh2[1], msh2[2], msh2[3], msh2[4:5])

    def unescape(self, value: str) -> str:
        """``value`` with escape sequences decoded: \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\P\\ (truncation),
        \\Xhh..\\ (hex bytes, read as UTF-8 then Latin-1), formatting commands such as \\.br\\
        (a line break); \\H\\ \\N\\ (highlighting) are dropped; an unknown or unterminated sequence
        is kept as written."""
        esc = self.escape
        if esc not in value:
            return value
        out: list[str] = []
        index, length = 0, len(value)
        while index < length:
            char = value[index]
            if char != esc:
                out.append(char)
                index += 1
                continue
            end = value.find(esc, index + 1)
            if end == -1:
                out.append(value[index:])
                break
            out.append(self._decode(value[index + 1 : end], value[index : end + 1]))
            index = end + 1
        return "".join(out)

    def _decode(self, body: str, written: str) -> str:
        simple = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": self.escape,
            "P": self.truncation,
            "H": "",
            "N": "",
        }
        if body in simple:
            return simple[body]
        if body.startswith("X") and len(body) > 1 and len(body) % 2 == 1:
            try:
                raw = bytes.fromhex(body[1:])
            except ValueError:
                return written
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
        command = body[:3]
        if command in _FORMATTING:
            return _FORMATTING[command]
        return written

    def escape_text(self, value: str) -> str:
        """``value`` with every delimiter escaped, for writing into a field (ACK texts)."""
        table = _escape_table(self)
        if table.keys().isdisjoint(value):
            return value
        return "".join(table.get(char, char) for char in value)


@lru_cache(maxsize=64)
def _escape_table(encoding: Encoding) -> dict[str, str]:
    """What `Encoding.escape_text` writes for each delimiter (built once per encoding; read-only)."""
    esc = encoding.escape
    table = {
        esc: f"{esc}E{esc}",
        encoding.field: f"{esc}F{esc}",
        encoding.component: f"{esc}S{esc}",
        encoding.subcomponent: f"{esc}T{esc}",
        encoding.repetition: f"{esc}R{esc}",
        "\r": f"{esc}.br{esc}",
        "\n": f"{esc}.br{esc}",
    }
    if encoding.truncation:
        table[encoding.truncation] = f"{esc}P{esc}"
    return table


STANDARD = Encoding()
"""``|^~\\&``: what the gateway writes when a message gives it nothing better."""
