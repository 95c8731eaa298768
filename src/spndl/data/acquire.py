"""Bring a licensed dataset into the project: verify, extract safely, record where it came from.

A source is a local archive (``.zip``, ``.tar``, ``.tar.gz``/``.tgz``), a folder,
or a URL (``http(s)://``, ``file://``); CK+ comes as several zips (images,
Emotion labels, Landmarks) that combine into one tree. Each archive's sha256
is checked when one is given and recorded in any case, in ``ACQUIRED_FILE``
inside the tree.

Extraction refuses, before anything is written, members with absolute paths
or ``..``, links that leave the target, device files, names that are not
UTF-8 or hold control characters, a member that is both a file and a folder,
and archives over the unpacking ``Limits`` (archive bombs); it unpacks into a
temporary folder that is renamed into place only when every source is in,
so a bad or truncated archive leaves no partial tree behind. Two sources that
put different bytes at the same path are an error, identical copies (a
README in every zip) are not. An archive found inside a source (RAF-DB's
``basic/Image/aligned.zip``) is unpacked where it lies, under the same checks,
unless a folder of its name is already beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
import unicodedata
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from spndl import __version__
from spndl.data.records import DataError
from spndl.fsutil import atomic_path, has_record, sha256_file, temp_prefix
from spndl.ownership import atomic_dir, check_output_dir, check_output_file, output_file

ACQUIRED_FILE = "spndl-acquired.json"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
URL_SCHEMES = ("http", "https", "file")


@dataclass
class Source:
    """One acquired source, as recorded."""

    source: str                 # as given: path or URL
    kind: str                   # archive | folder
    name: str
    sha256: str | None          # of the archive; None for a folder
    sha256_expected: str | None
    bytes: int | None
    kept: str | None = None     # the project's copy of the archive, if kept


def is_url(src: str) -> bool:
    return urllib.parse.urlparse(src).scheme in URL_SCHEMES


def archive_suffix(path: Path) -> str | None:
    """The archive suffix ``path`` ends with (``.tar.gz`` before ``.gz``), or None."""
    name = path.name.lower()
    return next((s for s in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def archive_kind(path: Path) -> str:
    suffix = archive_suffix(path)
    if suffix is None:
        raise DataError(f"{path}: not a folder nor a known archive ({', '.join(ARCHIVE_SUFFIXES)})")
    return "zip" if suffix == ".zip" else "tar"


def download(url: str, dest_dir: Path) -> Path:
    """Fetch ``url`` into ``dest_dir`` (atomically) and return the file's path."""
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name:
        raise DataError(f"{url}: the URL names no file")
    dest = dest_dir / name
    try:
        with urllib.request.urlopen(url, timeout=60) as r, atomic_path(dest) as tmp, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f, 1 << 20)
    except OSError as e:  # URLError is an OSError
        raise DataError(f"{url}: download failed ({e})") from None
    return dest


def _bad_name(name: str) -> str | None:
    """Why an archive member name may not be extracted, or None."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path with '..'"
    return None


@dataclass
class Limits:
    """Bounds on what unpacking may write, against archive bombs: the total size unpacked by
    one acquisition (nested archives included) and each archive's unpacked-to-packed ratio.
    The defaults leave room for the real datasets (a few GB each; images hardly compress)."""

    max_bytes: int = 64 * 2**30      # spndl acquire --max-size 64 (GiB)
    max_ratio: float = 100.0         # spndl acquire --max-ratio 100
    used: int = 0                    # bytes unpacked so far by this acquisition

    def take(self, name: str, unpacked: int, packed: int) -> None:
        ratio = unpacked / max(packed, 1)
        if ratio > self.max_ratio:
            raise DataError(f"{name}: would unpack {unpacked:,} bytes from {packed:,} ({ratio:.0f}:1), over the "
                            f"limit of {self.max_ratio:g}:1 (--max-ratio, params data.unpack.max_ratio); "
                            "nothing was extracted")
        if self.used + unpacked > self.max_bytes:
            raise DataError(f"{name}: unpacking {unpacked:,} more bytes would exceed the limit of "
                            f"{self.max_bytes / 2**30:g} GiB for one acquisition (--max-size, params "
                            "data.unpack.max_gb); nothing was extracted")
        self.used += unpacked


def _bad_text(name: str) -> str | None:
    """Why a member name cannot become a file name that later steps can write, or None."""
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in name):  # undecodable bytes, as tarfile gives them
        return "name is not valid UTF-8"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "name holds a control character (newline, tab, ...)"
    return None


def _check_tree(path: Path | str, names: list[tuple[str, bool]]) -> None:
    """Refuse a member that is both a file and the folder of another member (``x`` and ``x/y``)."""
    files = {n.rstrip("/") for n, is_dir in names if not is_dir}
    for n, _ in names:
        parts = PurePosixPath(n.rstrip("/")).parts
        for k in range(1, len(parts)):
            parent = "/".join(parts[:k])
            if parent in files:
                raise DataError(f"{path}: refused member {parent!r}: it is a file and also the folder of "
                                f"{n!r}; nothing was extracted")


def _zip_name_problem(info: zipfile.ZipInfo) -> str | None:
    # Without the UTF-8 flag zipfile decodes names as cp437, so any bytes pass: check that
    # the bytes were UTF-8 after all (the datasets' names are ASCII).
    if not info.flag_bits & 0x800 and not info.filename.isascii():
        try:
            info.filename.encode("cp437").decode("utf-8")
        except UnicodeError:
            return "name is not valid UTF-8"
    return _bad_text(info.filename)


def _check_zip(path: Path | str, zf: zipfile.ZipFile) -> None:
    for info in zf.infolist():
        why = _bad_name(info.filename) or _zip_name_problem(info)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", "replace")
            resolved = os.path.normpath(os.path.join(os.path.dirname(info.filename), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                why = f"link to {target!r} outside the target"
            else:
                why = "symbolic link (zip links are not extracted)"
        elif why is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            why = "device or special file"
        if why:
            raise DataError(f"{path}: refused member {_shown(info.filename)}: {why}; nothing was extracted")
    _check_tree(path, [(i.filename, i.is_dir()) for i in zf.infolist()])


def _shown(name: str) -> str:
    return repr(name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def _check_tar(path: Path | str, tf: tarfile.TarFile, dest: Path) -> None:
    for m in tf.getmembers():
        why = _bad_name(m.name) or _bad_text(m.name) or (_bad_text(m.linkname) if m.linkname else None)
        if why is None:
            try:
                tarfile.data_filter(m, str(dest))  # the standard library's safe-extraction rules
            except tarfile.FilterError as e:
                why = {tarfile.AbsolutePathError: "absolute path",
                       tarfile.OutsideDestinationError: "path outside the target",
                       tarfile.AbsoluteLinkError: f"link to absolute path {m.linkname!r}",
                       tarfile.LinkOutsideDestinationError: f"link to {m.linkname!r} outside the target",
                       tarfile.SpecialFileError: "device or special file"}.get(type(e), str(e))
        if why:
            raise DataError(f"{path}: refused member {_shown(m.name)}: {why}; nothing was extracted")
    _check_tree(path, [(m.name, m.isdir()) for m in tf.getmembers()])


def extract(path: Path, dest: Path, name: str | None = None, limits: Limits | None = None) -> None:
    """Check every member of the archive ``path`` and the unpacked size against ``limits``,
    then extract it into the empty folder ``dest``.

    ``name`` is how errors call the archive (an archive inside a source), ``path`` by default.
    """
    name = name or str(path)
    limits = limits or Limits()
    packed = path.stat().st_size
    try:
        if archive_kind(path) == "zip":
            with zipfile.ZipFile(path) as zf:
                _check_zip(name, zf)
                limits.take(name, sum(i.file_size for i in zf.infolist()), packed)
                zf.extractall(dest)
        else:
            with tarfile.open(path, "r:*") as tf:
                _check_tar(name, tf, dest)
                limits.take(name, sum(m.size for m in tf.getmembers() if m.isfile()), packed)
                tf.extractall(dest, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:
        raise DataError(f"{name}: corrupted or truncated archive ({e})") from None


def merge_into(src: Path, dest: Path, origin: str) -> None:
    """Move the tree ``src`` into ``dest``; the same path with other bytes is an error."""
    for d, _dirs, files in os.walk(src):
        rel = Path(d).relative_to(src)
        (dest / rel).mkdir(exist_ok=True)
        for f in files:
            a, b = Path(d) / f, dest / rel / f
            if b.exists() or b.is_symlink():
                if b.is_file() and a.is_file() and sha256_file(a) == sha256_file(b):
                    continue
                raise DataError(f"{origin}: {rel / f} is also in an earlier source, with other content")
            os.replace(a, b)


def unpack_nested(tree: Path, origin: str, log=print, limits: Limits | None = None) -> list[dict]:
    """Unpack the archives inside the unpacked source ``origin`` (at ``tree``) where they lie.

    RAF-DB's ``basic`` folder ships its images as ``Image/aligned.zip`` (and
    ``original.zip``), which the reader needs as folders. An archive holding one
    folder of its own name (``aligned/...``) is unpacked beside itself, any other
    into a folder of its name; the archive then leaves the tree (its digest stays
    in the record). A folder of that name already there wins and the archive is
    left packed. One level only: archives inside these are not opened. Returns
    their records; errors name them as ``origin!inner/path``.
    """
    records = []
    # A zip made on macOS carries AppleDouble companions (__MACOSX/.../._aligned.zip)
    # whose names end like archives but which hold only file metadata.
    # The name tests come first: a dataset tree holds tens of thousands of images to stat otherwise.
    for path in sorted(p for p in tree.rglob("*") if archive_suffix(p) and not p.name.startswith("._")
                       and "__MACOSX" not in p.relative_to(tree).parts and p.is_file()):
        rel = path.relative_to(tree)
        stem = path.name[: -len(archive_suffix(path))]
        target = path.parent / stem
        if target.exists():
            log(f"left {rel} packed: {rel.parent / stem} is already there")
            continue
        digest, size = sha256_file(path), path.stat().st_size
        log(f"unpacking {rel} (sha256 {digest[:12]}...)")
        stage = Path(tempfile.mkdtemp(prefix=".stage.", dir=tree))
        try:
            extract(path, stage, name=f"{origin}!{rel}", limits=limits)
            top = list(stage.iterdir())
            own_folder = len(top) == 1 and top[0].is_dir() and top[0].name == stem
            target.mkdir()
            merge_into(top[0] if own_folder else stage, target, f"{origin}!{rel}")
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        path.unlink()
        records.append({"source": origin, "archive": str(rel), "sha256": digest, "bytes": size,
                        "unpacked_to": str(target.relative_to(tree))})
    return records


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy a source folder, refusing links (to files or folders) that lead out of it, or back
    up to a folder that holds them (the copy would go round it without end)."""
    root = src.resolve()
    for d, dirs, files in os.walk(src):
        for f in dirs + files:
            p = Path(d) / f
            if not p.is_symlink():
                continue
            target = p.resolve()
            if not target.is_relative_to(root):
                raise DataError(f"{p}: link to {os.readlink(p)!r} outside the source folder")
            if target.is_dir() and Path(d).resolve().is_relative_to(target):
                raise DataError(f"{p}: link to {os.readlink(p)!r}, a folder that holds the link: a link loop")
    shutil.copytree(src, dest, symlinks=False, dirs_exist_ok=True)


def is_acquired(folder: Path) -> bool:
    """Whether ``folder`` is a tree that ``acquire`` wrote (its acquisition record)."""
    return has_record(folder, ACQUIRED_FILE, "spndl_version")


OWN_OUTPUT = f"a tree spndl acquired (one with {ACQUIRED_FILE})"


def acquire(dataset: str, sources: list[str], out: str | Path, sha256: list[str | None] | None = None,
            keep: str | Path | None = None, log=print, limits: Limits | None = None) -> dict:
    """Verify and unpack ``sources`` into the one tree ``out``; returns the acquisition record.

    ``sha256`` lists one expected digest (None or '-' for none) per source. ``keep``
    is a folder for the project's copy of each verified archive, downloads included,
    so that the data version is versioned with the results (DVC). ``out`` must be
    absent, empty or an earlier acquired tree, and apart from every local source.
    """
    limits = limits or Limits()
    if not sources:
        raise DataError(f"{dataset}: no source given")
    sha256 = list(sha256) if sha256 else [None] * len(sources)
    if len(sha256) != len(sources):
        raise DataError(f"{dataset}: {len(sha256)} checksums for {len(sources)} sources; give one per source "
                        "('-' for none)")
    out = Path(out)
    local = tuple(Path(src).expanduser() for src in sources if not is_url(src))
    check_output_dir(out, is_acquired, OWN_OUTPUT, inputs=local + ((Path(keep),) if keep else ()))
    out.parent.mkdir(parents=True, exist_ok=True)  # downloads land beside the tree, not in the system's /tmp
    keep = Path(keep) if keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    records: list[Source] = []
    nested: list[dict] = []
    to_keep: list[tuple[Path, Path]] = []
    with (tempfile.TemporaryDirectory(prefix=temp_prefix(out), suffix=".tmp", dir=out.parent) as dl,
          atomic_dir(out, is_acquired, OWN_OUTPUT) as tmp):
        for src, want in zip(sources, sha256):
            want = want.lower() if want and want != "-" else None
            if is_url(src):
                log(f"downloading {src}")
                path = download(src, Path(dl))
            else:
                path = Path(src).expanduser()
                if not path.exists():
                    raise DataError(f"{path}: source not found")
            if path.is_dir():
                if want:
                    raise DataError(f"{path}: a folder has no sha256; give checksums for archives only")
                log(f"copying folder {path}")
                entry = Source(src, "folder", path.name, None, None, None)
            else:
                archive_kind(path)
                digest = sha256_file(path)
                if want and digest != want:
                    raise DataError(f"{path}: sha256 is {digest}, params expect {want}; nothing was extracted")
                kept = str(keep / path.name) if keep else None
                if keep and path.parent.resolve() != keep.resolve():
                    to_keep.append((path, keep / path.name))
                log(f"extracting {path.name} (sha256 {digest[:12]}...)")
                entry = Source(src, "archive", path.name, digest, want, path.stat().st_size, kept)
            # Each source is unpacked on its own first, so that an archive inside it is
            # named by its source, and a clash between sources is caught file by file.
            stage = Path(tempfile.mkdtemp(prefix=".stage.", dir=tmp))
            try:
                _copy_tree(path, stage) if path.is_dir() else extract(path, stage, limits=limits)
                nested += unpack_nested(stage, str(path), log, limits)
                merge_into(stage, tmp, str(path))
            finally:
                shutil.rmtree(stage, ignore_errors=True)
            records.append(entry)
        # Copies are made once every source is in, so a failed acquisition keeps none, and
        # only over files spndl kept before (spndl.ownership): all are checked before the first.
        for _, dest in to_keep:
            check_output_file(dest)
        for src_path, dest in to_keep:
            with output_file(dest) as t:
                shutil.copyfile(src_path, t)
        record = {"dataset": dataset, "sources": [asdict(r) for r in records], "unpacked_inside": nested,
                  "acquired_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "spndl_version": __version__}
        (tmp / ACQUIRED_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_record(root: str | Path) -> dict | None:
    """The acquisition record of a tree written by ``acquire``, if any."""
    p = Path(root) / ACQUIRED_FILE
    return json.loads(p.read_text()) if p.is_file() else None
