"""Checks of text from outside (manifests, requests, the command line), owned here so every front end refuses the
same values with the same words: control characters, territory codes, values shown in messages.

- :func:`control_problem`: a NUL byte is refused everywhere (neither SQLite paths nor PostgreSQL text can hold
  one); other control characters (C0, DEL, C1) are refused in names, ids, paths and parameters, and allowed
  only as tab and line breaks in free text (a licence's wording).
- :data:`TERRITORIES`: the 249 ISO 3166-1 alpha-2 codes (officially assigned, as of 2024). Groups (``EU``,
  ``WW``) and reserved codes (``UK``, ``EL``) are refused with a hint: terms without territories apply
  everywhere, and a group is its member countries.
- :func:`shown`: a value as an error message shows it, ``repr()`` cut to a bounded length (a manifest value may
  be megabytes long, or a YAML alias that expands to far more).
"""

from __future__ import annotations

__all__ = ["TERRITORIES", "control_problem", "shown", "territory_problem"]

_CODES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS
MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS
RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW
TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""

#: ISO 3166-1 alpha-2: every officially assigned code.
TERRITORIES: frozenset[str] = frozenset(_CODES.split())

#: Codes people write that ISO 3166-1 does not assign to a country, and what to write instead.
_HINTS = {
    "UK": "use GB for the United Kingdom",
    "EL": "use GR for Greece",
    "EU": "a group: list its member countries, or leave territories out (the terms then apply everywhere)",
    "WW": "leave territories out: terms without territories apply everywhere",
    "XK": "Kosovo has no ISO 3166-1 code; list the territories the terms name",
}

_TEXT_ALLOWED = frozenset("\t\n\r")


def control_problem(value: str, *, free_text: bool = False) -> str | None:
    """Why ``value`` may not be stored or used as a name, path or parameter (None: it may). A NUL byte is never
    allowed; with ``free_text`` tab and line breaks are, other control characters never are."""
    for i, ch in enumerate(value):
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            if free_text and ch in _TEXT_ALLOWED:
                continue
            what = "a NUL byte" if code == 0 else "a control character"
            return f"contains {what} (U+{code:04X}) at position {i}"
    return None


def territory_problem(code: str) -> str | None:
    """Why ``code`` (any case, spaces around it ignored) is not an ISO 3166-1 alpha-2 territory code (None: it
    is); the message shows ``code`` as given."""
    upper = code.strip().upper()
    if upper in TERRITORIES:
        return None
    hint = _HINTS.get(upper)
    return f"{shown(code)} is not an ISO 3166-1 alpha-2 code" + (f" ({hint})" if hint else "")


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters (ending ``...`` when cut), never rendering a large value
    in full: a long string is cut before ``repr``, a container with nested or many items is described, not shown."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"an integer of {value.bit_length()} bits"
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        items = list(value.items() if isinstance(value, dict) else value)[:9]
        flat = all(isinstance(v, (str, int, float, bool, type(None))) for v in _leaves(items))
        if not flat or len(value) > 8:
            return f"a {_NAMES.get(type(value), type(value).__name__)} of {len(value)} items"
        text = repr(value)
    else:
        text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


_NAMES = {dict: "mapping", list: "list"}


def _leaves(items: list[object]) -> list[object]:
    out: list[object] = []
    for item in items:
        out.extend(item if isinstance(item, tuple) else (item,))  # a mapping's (key, value) pairs
    return out
