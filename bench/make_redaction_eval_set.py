# ruff: noqa: E501, SIM905, SIM114 - a data-generating script: long template lines on purpose
"""Writes fixtures/redaction/eval.jsonl: the labelled evaluation set for the redaction engine.

Each line is one text: ``{"id", "format": "text"|"x12"|"hl7"|"fhir", "text", "spans": [{"start",
"end", "kind", "structural"}]}``. Spans mark every identifier a reader must not see; everything else
(codes, NPIs, tax ids of organisations, payer ids, amounts, control numbers, file dates, segment tags)
is a distractor that must survive. Texts are written from templates with hand-picked values (names of
many origins, ids in many shapes, ALL CAPS and title case) under a fixed seed, so the file is
reproducible: ``python bench/make_redaction_eval_set.py``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "redaction" / "eval.jsonl"
FIRST = (
    "John Maria Oluwaseun Xiaoming Priya Mohammed Siobhan Dmitri Aisha Jose Keanu Yuki Fatima Chinedu "
    "Ingrid Tomasz Lakshmi Mateo Amara Hiroshi Leilani Kwame Zeynep Emily Robert Patricia DeShawn "
    "Tamika Guadalupe Wei Ravi Anh Bogdan Olga Sean Nadia Emeka Ngozi Santiago Ayesha Kenji Irina "
    "Carlos Linda Jamal Mei Arjun Esperanza Kofi Astrid Rahul"
).split()
LAST = (
    "Smith Garcia Adeyemi Wang Patel O'Brien Kuznetsov Nguyen Okafor Hernandez Kim Tanaka Kowalski "
    "Johansson Mensah Yilmaz Rodriguez Washington Chen Singh Murphy Ivanova Haddad Kariuki Novak "
    "Gonzalez Lee Sharma Mwangi Rossi Dubois Fitzgerald Khan Takahashi Santos Okonkwo Reddy Park "
    "Jackson Alvarez Tran Kowalczyk Nakamura Osei Ibrahim Silva Horvath Castillo Banerjee Lopez"
).split()
RARE_LAST = "Begay Kahananui Zwolinski Tsosie Quispe Abernathy-Vance Oyelaran Eskandari".split()
CITIES = [("Springfield", "IL", "62704"), ("Boston", "MA", "02115"), ("Houston", "TX", "77002"),
          ("Cheyenne", "WY", "82001"), ("Fresno", "CA", "93721"), ("Tulsa", "OK", "74103")]  # fmt: skip
STREETS = ["1420 Oak Ridge Dr", "77 W 5th Street", "9 Elm St Apt 4B", "2200 N Lake Shore Blvd Suite 310",
           "18 Maple Avenue", "305 Kalakaua Ave", "4410 County Road 12"]  # fmt: skip
PAYERS = ["Example Health Plan", "Blue Cross Blue Shield of Texas", "Aetna Better Health", "UnitedHealthcare",
          "Medicare Part B", "Cigna", "Humana Gold Plus"]  # fmt: skip


def name_forms(rng: random.Random, rare: bool = False) -> str:
    first, last = rng.choice(FIRST), rng.choice(RARE_LAST if rare else LAST)
    form = rng.randrange(5)
    if form == 0:
        return f"{first} {last}"
    if form == 1:
        return f"{first.upper()} {last.upper()}"
    if form == 2:
        return f"{last.upper()}, {first.upper()}"
    if form == 3:
        return f"{last}, {first}"
    return f"{first} {rng.choice('ABCDEJKMR')}. {last}"


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def ssn(rng: random.Random) -> str:
    return f"{rng.randrange(100, 665)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"


def phone(rng: random.Random) -> str:
    a, b, c = rng.randrange(201, 989), rng.randrange(200, 999), rng.randrange(1000, 9999)
    return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"+1 {a} {b} {c}"])


def dob(rng: random.Random) -> str:
    y, m, d = rng.randrange(1931, 2015), rng.randrange(1, 13), rng.randrange(1, 29)
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return rng.choice([f"{m:02d}/{d:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{months[m - 1]} {d}, {y}",
                       f"{d} {months[m - 1]} {y}", f"{m}/{d}/{y}"])  # fmt: skip


def mbi(rng: random.Random) -> str:
    letters = "ACDEFGHJKMNPQRTUVWXY"
    value = (f"{rng.randrange(1, 10)}{rng.choice(letters)}{rng.choice(letters)}{rng.randrange(10)}"
             f"{rng.choice(letters)}{rng.choice(letters)}{rng.randrange(10)}{rng.choice(letters)}"
             f"{rng.choice(letters)}{rng.randrange(10)}{rng.randrange(10)}")  # fmt: skip
    return value if rng.random() < 0.5 else f"{value[:4]}-{value[4:7]}-{value[7:]}"


def values(rng: random.Random) -> dict[str, str]:
    city, state, zip5 = rng.choice(CITIES)
    return {
        "NAME": name_forms(rng),
        "RARE": name_forms(rng, rare=True),
        "SSN": ssn(rng),
        "PHONE": phone(rng),
        "DOB": dob(rng),
        "EMAIL": f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower().replace(chr(39), '')}{rng.randrange(99)}@"
        f"{rng.choice(['example.org', 'mail.example.com', 'patients.example.net'])}",
        "MRN": rng.choice(
            [digits(rng, 8), f"E{digits(rng, 7)}", f"{digits(rng, 4)}-{digits(rng, 2)}-{digits(rng, 2)}"]
        ),
        "MEMBER": rng.choice(
            [f"W{digits(rng, 9)}", f"XQZ{digits(rng, 9)}", f"{digits(rng, 8)}A", f"ZGP{digits(rng, 8)}01"]
        ),
        "MBI": mbi(rng),
        "ACCT": rng.choice(
            [digits(rng, 10), f"HAR{digits(rng, 8)}", f"PCN-{digits(rng, 8)}-{digits(rng, 2)}"]
        ),
        "CLAIM": rng.choice([digits(rng, 13), f"CLM-{digits(rng, 6)}", f"{digits(rng, 4)}A{digits(rng, 6)}"]),
        "LICENSE": rng.choice(
            [f"S530-{digits(rng, 4)}-{digits(rng, 4)}", f"D{digits(rng, 7)}", f"{digits(rng, 9)}"]
        ),
        "VIN": "1HGCM8" + digits(rng, 4) + "3A" + digits(rng, 5),
        "DEVICE": rng.choice([f"SN-{digits(rng, 2)}A7-{digits(rng, 4)}", f"{digits(rng, 14)}"]),
        "URL": f"https://portal.example.org/patients/{digits(rng, 6)}/chart",
        "IP": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "STREET": rng.choice(STREETS),
        "CITY": city,
        "STATE": state,
        "ZIP": zip5 if rng.random() < 0.6 else f"{zip5}-{digits(rng, 4)}",
        "AGE": str(rng.randrange(90, 104)),
        "PAYER": rng.choice(PAYERS),
        "NPI": "1" + digits(rng, 9),
        "TIN": f"{digits(rng, 2)}-{digits(rng, 7)}",
        "PAYERID": rng.choice(["87726", "60054", "62308", "SX107", "00430"]),
        "ICN": digits(rng, 9),
        "AMT": f"{rng.randrange(20, 9000)}.{digits(rng, 2)}",
        "CARC": rng.choice(["CO-97", "CO-45", "PR-1", "CO-16", "OA-23", "CO-50", "PR-204"]),
        "RARC": rng.choice(["N290", "M51", "MA130", "N479", "M127"]),
        "FILEDATE": f"2024-0{rng.randrange(1, 10)}-1{rng.randrange(10)}",
        "CPT": rng.choice(["99213", "99214", "J3490", "97110", "80053"]),
    }


# Templates: {KIND} is an identifier span of that kind, {=KEY} a distractor value kept in clear.
FREE_TEMPLATES = [
    "Claim {CLAIM_LABEL} for patient {NAME} denied {=CARC} {=RARC}; billed {=AMT}, payer {=PAYER} ({=PAYERID}).",
    "Pt {NAME} DOB {DOB} called from {PHONE} asking why {=CARC} was applied. NPI {=NPI} on file.",
    "Subscriber {NAME} (Member ID {MEMBER}) not found in eligibility response from {=PAYER}; ICN {=ICN}.",
    "MRN {MRN}: duplicate registration for {NAME}, SSN {SSN}. Merge requested by HIM.",
    "Guarantor {NAME} at {STREET}, {CITY}, {=STATE} {ZIP} returned mail; update address before {=CARC} rebill.",
    "SPOKE WITH MRS. {RARE} RE ACCT {ACCT}. SHE WILL FAX EOB TO {PHONE}. TIN {=TIN}.",
    "Medicare beneficiary MBI {MBI} for {NAME} rejected: {=RARC} invalid MBI. Amount {=AMT}.",
    "Patient {NAME} is {AGE} years old; claim held for review. Payer id {=PAYERID}, CPT {=CPT}.",
    "Portal link {URL} was shared in error with {NAME}; login from {IP} blocked.",
    "Please email {EMAIL} with the corrected claim (ICN {=ICN}); file date {=FILEDATE}.",
    "Auto accident claim: driver's license {LICENSE}, VIN {VIN}, insured {NAME}.",
    "Implant device serial number {DEVICE} missing on claim for {NAME}; {=CARC} denial, {=AMT} at risk.",
    "Admitted {DOB_ADMIT}, discharged {DOB_DISCH}; {NAME} (acct {ACCT}) needs auth from {=PAYER}.",
    "ERR: eligibility 271 returned AAA*N**72 for subscriber id {MEMBER}, patient {NAME}, DOB {DOB}.",
    "{NAME} called back at {PHONE}; she says her SSN is {SSN} not the one on file.",
    "Remark {=RARC}: patient control number {ACCT} does not match. Check {=ICN} posted {=AMT}.",
    "Denial {=CARC} on DOS {DOB_ADMIT} for {NAME} - medical record number {MRN}, policy {MEMBER}.",
    "Patient, age {AGE}, lives alone at {STREET}; contact daughter {RARE} at {PHONE}.",
    "Fax from {=PAYER} to {FAX} re claim {CLAIM} - no patient name given. NPI {=NPI}.",
    "Transmission file date {=FILEDATE} batch {=ICN}: 3 claims rejected, total {=AMT}.",
]


def _render(template: str, v: dict[str, str], rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    text, spans = "", []
    cursor = 0
    for match in re.finditer(r"\{(=?)([A-Z_]+)\}", template):
        text += template[cursor : match.start()]
        cursor = match.end()
        keep, key = match[1] == "=", match[2]
        if keep:
            text += v[key]
            continue
        kind, value = key, v.get(key, "")
        if key == "CLAIM_LABEL":
            text += "# "
            kind, value = "CLAIM", v["CLAIM"]
        elif key == "RARE":
            kind = "NAME"
        elif key in ("DOB_ADMIT", "DOB_DISCH"):
            kind, value = "DATE", dob(rng)
        elif key == "FAX":
            kind, value = "FAX", phone(rng)
        elif key == "VIN":
            kind = "VEHICLE"
        elif key == "STREET":
            kind = "ADDR"
        elif key == "CITY":
            kind = "ADDR"
        elif key == "ACCT":
            kind = "ACCT"
        elif key == "DOB":
            kind = "DATE"
        elif key == "MEMBER":
            kind = "MEMBER"
        if key == "AGE":
            value = f"{v['AGE']}"
        start = len(text)
        text += value
        spans.append({"start": start, "end": len(text), "kind": kind, "structural": False})
    text += template[cursor:]
    return text, spans


def _x12(v: dict[str, str], rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    last, first = rng.choice(LAST).upper(), rng.choice(FIRST).upper()
    d8 = f"19{rng.randrange(30, 99)}0{rng.randrange(1, 10)}1{rng.randrange(10)}"
    svc = f"2024{rng.randrange(10, 13)}0{rng.randrange(1, 10)}"
    parts = [
        ("BPR*I*{=AMT}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20240110~", {}),
        ("TRN*1*{=ICN}*1512345678~", {}),
        ("CLP*{ACCT}*4*{=AMT}*0**12*{CLAIM}~", {}),
        ("NM1*QC*1*{L}*{F}****MI*{MEMBER}~", {}),
        ("NM1*82*1*WELBY*MARCUS****XX*{=NPI}~", {}),
        ("DMG*D8*{D8}*F~", {}),
        ("DTM*232*{SVC}~", {}),
        ("CAS*CO*{CARCN}*{=AMT}~", {}),
        ("REF*EA*{MRN}~", {}),
        ("NM1*PR*2*{=PAYERUP}*****PI*{=PAYERID}~", {}),
    ]
    text, spans = "", []
    extra = {"L": last, "F": first, "D8": d8, "SVC": svc, "CARCN": v["CARC"].split("-")[1],
             "PAYERUP": v["PAYER"].upper()}  # fmt: skip
    kinds = {"ACCT": "ACCT", "CLAIM": "CLAIM", "L": "NAME", "F": "NAME", "MEMBER": "MEMBER", "D8": "DOB",
             "SVC": "DATE", "MRN": "MRN"}  # fmt: skip
    chosen = [p for p in parts if rng.random() < 0.85 or "QC" in p[0]]
    for template, _ in chosen:
        cursor = 0
        for match in re.finditer(r"\{(=?)([A-Z0-9]+)\}", template):
            text += template[cursor : match.start()]
            cursor = match.end()
            key = match[2]
            value = extra.get(key) or v[key]
            if match[1] == "=" or key == "CARCN" or key == "PAYERUP":
                text += value
                continue
            start = len(text)
            text += value
            spans.append({"start": start, "end": len(text), "kind": kinds[key], "structural": True})
        text += template[cursor:]
    return text, spans


def _hl7(v: dict[str, str], rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    last, first = rng.choice(LAST).upper(), rng.choice(FIRST).upper()
    birth = f"19{rng.randrange(30, 99)}0{rng.randrange(1, 10)}2{rng.randrange(10)}"
    street, city = v["STREET"].upper(), v["CITY"].upper()
    msh = "MSH|^~\\&|EPIC|HOSP|RCM|GW|20240105103000||ADT^A08|MSG{}|P|2.5\r".format(v["ICN"])
    pieces: list[tuple[str, str | None]] = [
        (msh, None), ("PID|1||", None), (v["MRN"], "MRN"), ("^^^HOSP^MR||", None), (last, "NAME"), ("^", None),
        (first, "NAME"), ("||", None), (birth, "DOB"), ("|F|||", None), (street, "ADDR"), ("^^", None),
        (city, "ADDR"), ("^" + v["STATE"] + "^", None), (v["ZIP"], "ZIP"), ("||", None),
        (v["PHONE"], "PHONE"), ("|||||", None), (v["ACCT"], "ACCT"), ("|", None), (v["SSN"], "SSN"),
        ("\rPV1|1|I|4N^401^A||||" + v["NPI"] + "^WELBY^MARCUS||||||||||||", None), (v["ACCT"] + "1", "ACCT"),
        ("\rIN1|1|BCBS|" + v["PAYERID"] + "|" + v["PAYER"].upper() + "||||||||||||", None),
        (last, "NAME"), ("^", None), (first, "NAME"), ("|01|", None), (birth, "DOB"),
        ("||||||||||||||||||", None), (v["MEMBER"], "MEMBER"), ("\r", None),
    ]  # fmt: skip
    if rng.random() < 0.5:
        pieces += [("NTE|1||Spoke with ", None), (f"{first.title()} {last.title()}", "NAME"),
                   (" re denial " + v["CARC"] + "\r", None)]  # fmt: skip
    text, spans = "", []
    for piece, kind in pieces:
        if kind is not None:
            spans.append(
                {"start": len(text), "end": len(text) + len(piece), "kind": kind, "structural": True}
            )
        text += piece
    return text, spans


def _fhir(v: dict[str, str], rng: random.Random) -> tuple[str, list[dict[str, object]]]:
    last, first = rng.choice(LAST), rng.choice(FIRST)
    birth = f"19{rng.randrange(30, 99)}-0{rng.randrange(1, 10)}-1{rng.randrange(10)}"
    diag, dspans = _render(rng.choice(FREE_TEMPLATES[:8]), v, rng)
    head = '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.3","value":"'
    pieces: list[tuple[str, str | None]] = [
        (head, None), (v["MRN"], "MEMBER"), ('"}],"name":[{"family":"', None), (last, "NAME"),
        ('","given":["', None), (first, "NAME"), ('"]}],"birthDate":"', None), (birth, "DOB"),
        ('"}},{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"', None),
    ]  # fmt: skip
    text, spans = "", []
    for piece, kind in pieces:
        if kind is not None:
            spans.append(
                {"start": len(text), "end": len(text) + len(piece), "kind": kind, "structural": True}
            )
        text += piece
    offset = len(text)
    text += diag.replace('"', "'")
    spans += [{**s, "start": int(s["start"]) + offset, "end": int(s["end"]) + offset} for s in dspans]  # type: ignore[call-overload]
    text += '"}]}}]}'
    return text, spans


def main() -> None:
    rng = random.Random(20261101)
    rows = []
    for index in range(400):
        v = values(rng)
        if index < 260:
            fmt, (text, spans) = "text", _render(FREE_TEMPLATES[index % len(FREE_TEMPLATES)], v, rng)
        elif index < 310:
            fmt, (text, spans) = "x12", _x12(v, rng)
        elif index < 360:
            fmt, (text, spans) = "hl7", _hl7(v, rng)
        else:
            fmt, (text, spans) = "fhir", _fhir(v, rng)
        rows.append({"id": f"r{index:03d}", "format": fmt, "text": text, "spans": spans})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    print(f"wrote {len(rows)} texts to {OUT}")


if __name__ == "__main__":
    main()
