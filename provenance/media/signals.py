"""Opt-out and rights signals embedded in a media file, read as plain facts (what they mean is the report's:
:mod:`provenance.report.signals`).

Three places are read, never the network:

* a **C2PA manifest** (``c2pa-python``; MP4/MOV/M4V, AVI, JPEG, PNG, WebP, GIF...): the active manifest's
  training-and-data-mining assertion under its old ``c2pa.training-mining`` and its CAWG 1.1
  ``cawg.training-mining`` labels, with the manifest's validation state (``valid``; ``untrusted``: the signature
  and hashes hold but the signer is on no trust list; ``invalid``: a hash or the signature fails, e.g. the file
  was changed after signing). A manifest store that is there (a JUMBF ``c2pa`` box near either end of the file)
  but cannot be read is a fact of kind ``c2pa`` and value ``unreadable``; a file the library cannot parse at all,
  with no such box, is left to the decoder. Remote manifests and OCSP are never fetched;
* **XMP packets** (``<x:xmpmeta>``) in the first and last :data:`XMP_WINDOW` bytes of the file (where muxers put
  them): TDMRep ``tdm:reservation`` / ``tdm:policy``, IPTC PLUS ``plus:DataMining`` and the rights fields
  ``xmpRights:UsageTerms``, ``xmpRights:WebStatement``, ``dc:rights``. A packet with a DTD is not parsed;
* **container metadata** (PyAV: the container's and each stream's tags, e.g. MP4 ``udta``/``ilst``, Matroska
  tags): keys ``tdm-reservation``, ``tdm-policy`` (``_`` or ``-``, any case) and the rights keys ``copyright``,
  ``license``, ``rights``, ``usage-terms``; a ``tdm-reservation=1`` written into a ``comment`` or ``description``.

Each fact is a JSON-able dict: ``kind``, ``value``, ``source`` (``c2pa`` or ``embedded``), and where known
``validation``, ``entries`` (a training-mining assertion's ``{name: use}``) and ``detail``.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from provenance.media.files import open_regular
from provenance.media.probe import Tags, container_tags

log = logging.getLogger(__name__)

__all__ = ["TRAINING_MINING_LABELS", "VALUE_MAX", "XMP_WINDOW", "read_signals"]

#: The training-and-data-mining assertion's labels: C2PA's former one and CAWG 1.1's.
TRAINING_MINING_LABELS = ("c2pa.training-mining", "cawg.training-mining")

#: Bytes read at each end of a file when looking for XMP packets.
XMP_WINDOW = 4 << 20
#: Longest value kept from a file (a tag may hold anything): longer ones are cut, marked with an ellipsis.
VALUE_MAX = 512

_MIME = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
}
_XMP_MAX = 1 << 20
_NS = {
    "http://www.w3.org/ns/tdmrep/": {"reservation": "tdm-reservation", "policy": "tdm-policy"},
    "http://ns.useplus.org/ldf/xmp/1.0/": {"DataMining": "plus:DataMining"},
    "http://ns.adobe.com/xap/1.0/rights/": {"UsageTerms": "rights", "WebStatement": "rights-url"},
    "http://purl.org/dc/elements/1.1/": {"rights": "rights"},
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_TAG_KINDS = {
    "tdm-reservation": "tdm-reservation",
    "tdm-policy": "tdm-policy",
    "copyright": "rights",
    "license": "rights",
    "rights": "rights",
    "usage-terms": "rights",
}
_IN_TEXT = re.compile(r"tdm[-_]reservation\s*[:=]\s*([01])", re.IGNORECASE)


class _Opener:
    def __init__(self, source: Any) -> None:
        self.source = source
        if isinstance(source, (str, Path)):
            self.suffix = Path(source).suffix.lower()
        else:
            self.suffix = str(getattr(source, "suffix", "")).lower()

    def open(self) -> BinaryIO:
        if isinstance(self.source, (str, Path)):
            return open_regular(Path(self.source))
        stream: BinaryIO = self.source.open()
        return stream


def read_signals(source: Any) -> list[dict[str, Any]]:
    """The signals embedded in ``source`` (a path, or a clip source with ``open()`` and ``suffix``), in the order
    C2PA, XMP, container tags. A file that cannot be opened gives none (its decoding error is the clip's)."""
    opener = _Opener(source)
    # the tags a probe of the same plain file read (a dataset's clip names its file: local_file)
    local = source if isinstance(source, (str, Path)) else getattr(source, "local_file", None)
    tags = container_tags(Path(local)) if local is not None else None
    readers: tuple[tuple[str, Callable[[BinaryIO, str], list[dict[str, Any]]]], ...] = (
        ("C2PA", _c2pa_facts),
        ("XMP", _xmp_facts),
        ("container tags", functools.partial(_container_facts, tags=tags)),
    )
    facts: list[dict[str, Any]] = []
    for name, reader in readers:
        try:
            with opener.open() as stream:
                facts += reader(stream, opener.suffix)
        except OSError as exc:
            log.debug("signals of %s not read: %s", source, exc)
            break
        except Exception as exc:  # a decoder's or parser's own error: this reader found nothing it can vouch for
            log.debug("signals of %s: %s failed: %s", source, name, exc)
    return [_cut(fact) for fact in facts[:64]]


def _cut(fact: dict[str, Any]) -> dict[str, Any]:
    for key in ("value", "detail"):
        text = fact.get(key)
        if isinstance(text, str) and len(text) > VALUE_MAX:
            fact[key] = text[: VALUE_MAX - 1] + "\u2026"
    return fact


# --- C2PA ----------------------------------------------------------------------------------------------------


_CONTEXTS = threading.local()


def _c2pa_context() -> Any:
    """The C2PA reading context (no remote manifest, no OCSP), made once per thread: making it cost 0.7 ms, about
    as much as reading a clip's manifest store."""
    context = getattr(_CONTEXTS, "c2pa", None)
    if context is None:
        import c2pa

        settings = c2pa.Settings.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
        context = _CONTEXTS.c2pa = c2pa.Context(settings)
    return context


def _validation(manifest_store: dict[str, Any]) -> str:
    state = str(manifest_store.get("validation_state") or "").lower()
    codes = {str(s.get("code")) for s in manifest_store.get("validation_status") or [] if isinstance(s, dict)}
    failures = codes - {"signingCredential.untrusted"}
    if state == "invalid" or failures:
        return "invalid"
    if state == "trusted":
        return "valid"
    return "untrusted" if "signingCredential.untrusted" in codes else "valid"


def _c2pa_facts(stream: BinaryIO, suffix: str) -> list[dict[str, Any]]:
    mime = _MIME.get(suffix)
    if mime is None:
        return []
    import c2pa

    try:
        reader = c2pa.Reader.try_create(mime, stream, context=_c2pa_context())
        if reader is None:
            return []
        with reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        if not _has_manifest_store(stream):  # the asset itself did not parse: the decoder will tell
            return []
        detail = " ".join(str(exc).split())[:200]
        return [{"kind": "c2pa", "value": "unreadable", "source": "c2pa", "validation": "invalid", "detail": detail}]
    validation = _validation(store)
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "") or {}
    facts = []
    for assertion in active.get("assertions") or []:
        label = re.sub(r"\.v\d+$", "", str(assertion.get("label", "")))
        if label not in TRAINING_MINING_LABELS:
            continue
        entries = (assertion.get("data") or {}).get("entries") or {}
        uses = {str(k): str(v.get("use")) for k, v in entries.items() if isinstance(v, dict)}
        value = "; ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in sorted(uses.items()))
        signature = active.get("signature_info") or {}
        signer, signed_at = signature.get("common_name"), signature.get("time")
        fact: dict[str, Any] = {"kind": label, "value": value, "source": "c2pa", "validation": validation}
        fact["entries"] = uses
        if signer:
            fact["detail"] = f"signed by {signer}"
        if isinstance(signed_at, str) and re.match(r"\d{4}-\d{2}-\d{2}", signed_at):
            fact["date"] = signed_at[:10]  # the trusted timestamp's, when the manifest has one
        facts.append(fact)
    return facts


def _has_manifest_store(stream: BinaryIO) -> bool:
    """Whether the file holds a C2PA manifest store (a JUMBF box labelled ``c2pa``) near either end."""
    stream.seek(0)
    return any(b"jumb" in data and b"c2pa" in data for data in _ends(stream))


# --- XMP -----------------------------------------------------------------------------------------------------


def _ends(stream: BinaryIO) -> list[bytes]:
    """The first and the last :data:`XMP_WINDOW` bytes of ``stream`` (one chunk when it is no larger)."""
    head = stream.read(XMP_WINDOW)
    chunks = [head]
    if len(head) == XMP_WINDOW:
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
        stream.seek(max(XMP_WINDOW, size - XMP_WINDOW))
        chunks.append(stream.read(XMP_WINDOW))
    return chunks


def _packets(stream: BinaryIO) -> Iterator[bytes]:
    for data in _ends(stream):
        start = 0
        while (begin := data.find(b"<x:xmpmeta", start)) >= 0:
            end = data.find(b"</x:xmpmeta>", begin)
            if end < 0 or end - begin > _XMP_MAX:
                break
            yield data[begin : end + len(b"</x:xmpmeta>")]
            start = end


def _text(element: ET.Element) -> str:
    items = [li.text.strip() for li in element.iter(f"{_RDF}li") if li.text and li.text.strip()]
    if items:
        return items[0]
    return (element.text or "").strip() or element.get(f"{_RDF}resource", "").strip()


def _xmp_facts(stream: BinaryIO, suffix: str) -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = []
    for packet in _packets(stream):
        if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
            continue  # entity expansion is never run on a file's XML
        try:
            root = ET.fromstring(packet)
        except ET.ParseError:
            continue
        for element in root.iter():
            for name, value in element.attrib.items():
                kind = _kind_of(name)
                if kind and value.strip():
                    facts.append({"kind": kind, "value": value.strip(), "source": "embedded", "detail": "XMP"})
            kind = _kind_of(element.tag)
            if kind and (value := _text(element)):
                facts.append({"kind": kind, "value": value, "source": "embedded", "detail": "XMP"})
    return facts


def _kind_of(name: str) -> str | None:
    if not name.startswith("{"):
        return None
    ns, _, local = name[1:].partition("}")
    return _NS.get(ns, {}).get(local)


# --- container metadata --------------------------------------------------------------------------------------


def _container_facts(stream: BinaryIO, suffix: str, tags: Tags | None = None) -> list[dict[str, Any]]:
    """The signals in the container's and its streams' tags: ``tags`` when a probe of the file read them already
    (:func:`~provenance.media.probe.container_tags`), else read from ``stream``."""
    import av

    facts: list[dict[str, Any]] = []
    if tags is None:
        with av.open(stream, mode="r") as container:
            tags = (("container", dict(container.metadata)),)
            tags += tuple((f"stream {s.index}", dict(s.metadata)) for s in container.streams)
    for where, mapping in tags:
        for key, value in mapping.items():
            text = str(value).strip()
            norm = str(key).strip().lower().replace("_", "-")
            kind = _TAG_KINDS.get(norm)
            if kind and text:
                facts.append({"kind": kind, "value": text, "source": "embedded", "detail": f"{where} tag {key}"})
            elif norm in ("comment", "description") and (found := _IN_TEXT.search(text)):
                facts.append(
                    {
                        "kind": "tdm-reservation",
                        "value": found.group(1),
                        "source": "embedded",
                        "detail": f"{where} tag {key}",
                    }
                )
    return facts
