"""Datasets: the clips a scan reads, listed from a folder, WebDataset tar shards or a manifest.

``iter_sources(DATASET)`` yields one :class:`ClipSource` per clip, in a stable order, and a
:class:`BadEntry` for each entry that is broken before any clip can be read from it (the scan
turns it into an error clip and goes on). DATASET is one of:

1. **a folder**, walked recursively: in each folder its files (sorted by name), then its
   sub-folders (sorted). Hidden entries (``.name``) are skipped; symbolic links to files are
   followed, links to folders are not; a broken link with a media name *is* yielded (its clip
   fails with "broken symbolic link"). Media are recognised by suffix
   (:data:`MEDIA_SUFFIXES`); ``.tar`` files are WebDataset shards (below); other files are
   ignored (manifests in a folder included). A sub-folder that cannot be listed, a FIFO or device
   with a media name and a compressed shard (``.tar.gz`` ...; decompress it) are BadEntries.
   ``rel`` is the POSIX path below the folder.
2. **a ``.tar`` shard** (also inside a folder): members are read in archive order from the
   headers (``tarfile`` in ``"r:"`` mode; nothing is extracted, a member's bytes are read in
   place when its clip is opened). WebDataset convention: members ``KEY.EXT`` sharing ``KEY``
   (the name up to the first dot of its last component) form a sample; its media members are
   clips, a ``KEY.json`` object is their metadata, and small text members (``KEY.txt``,
   ``KEY.cls``, at most :data:`SIDECAR_MAX_BYTES`) are added as strings under their extension
   (``{"txt": "..."}``; the JSON's keys win). ``rel`` is ``<shard rel>/<member name>``
   (``shards/000.tar/sample7.mp4``); a shard given as DATASET is named by its file name.
   A member holding garbage is a normal clip that fails when decoded; a shard cut short or
   corrupt yields its good members, then one BadEntry for the shard saying where it broke.
3. **a manifest** ``.jsonl`` (one JSON object per line), ``.csv`` (a header row) or
   ``.parquet`` (needs ``pyarrow``: ``pip install 'provenance[parquet]'``). Key/column ``path``
   names the clip, relative to the manifest's folder or absolute, or a member of a shard as
   ``x.tar/member``; every other column goes verbatim to ``metadata`` (CSV cells are strings;
   Parquet dates become ISO strings and bytes UTF-8 text or base64). ``rel`` is the path as
   listed. Rows are kept in manifest order; a row that is not an object, has no usable ``path``,
   repeats an earlier row's path, or names a member its shard lacks is a BadEntry whose message
   names the manifest and line (row for Parquet): ``manifest.jsonl line 7: field 'path' is
   missing``. Paths outside the manifest's folder are allowed (absolute paths are part of the
   format); a server that must confine reads passes ``allowed_roots`` (every clip whose file
   resolves outside them becomes a BadEntry, with ``outside_roots`` set; it applies to every form).

4. **a clip**: a file with a media suffix given as DATASET is a dataset of that one clip, named
   by its file name (``rel`` is ``clip.mp4``; paths are relative to its folder).

:class:`Selection` (``--include``/``--exclude`` globs, ``--limit``) takes part of a dataset's entries.

A DATASET that cannot be read at all (missing, unknown kind, root folder not listable,
manifest unreadable or without a ``path`` column, ``pyarrow`` missing) raises :class:`SourceError`
at call time; a shard given as DATASET that cannot be read is a BadEntry, as any shard is.
:func:`resolve` maps a report clip back to its source (HTML thumbnails).
"""

from provenance.dataset.entries import MEDIA_SUFFIXES, BadEntry, ClipSource, Entry
from provenance.dataset.folders import COMPRESSED_SHARD_SUFFIXES
from provenance.dataset.selection import Selection
from provenance.dataset.shards import JSON_MAX_BYTES, SIDECAR_MAX_BYTES
from provenance.dataset.sources import MANIFEST_SUFFIXES, DatasetKind, dataset_kind, dataset_root, iter_sources, resolve
from provenance.errors import SourceError

__all__ = [
    "COMPRESSED_SHARD_SUFFIXES",
    "JSON_MAX_BYTES",
    "MANIFEST_SUFFIXES",
    "MEDIA_SUFFIXES",
    "SIDECAR_MAX_BYTES",
    "BadEntry",
    "ClipSource",
    "DatasetKind",
    "Entry",
    "Selection",
    "SourceError",
    "dataset_kind",
    "dataset_root",
    "iter_sources",
    "resolve",
]
