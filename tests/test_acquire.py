"""spndl acquire: archives, folders and URLs into one tree, checksums, and safe extraction."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from archives import ckplus_zips, pack

from spndl.cli import main
from spndl.data.acquire import ACQUIRED_FILE, acquire
from spndl.data.records import DataError
from spndl.fsutil import sha256_file
from spndl.ownership import RECORD


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_three_ckplus_zips_combine_into_one_tree_with_checksums_recorded(synth_root, tmp_path):
    zips = ckplus_zips(synth_root / "ckplus", tmp_path / "dl", nested=False)
    want = sha256_file(zips[0])
    rec = acquire("ckplus", [str(z) for z in zips], tmp_path / "raw/ckplus", sha256=[want, None, "-"],
                  keep=tmp_path / "archives", log=lambda s: None)
    tree = tmp_path / "raw/ckplus"
    assert {p.name for p in tree.iterdir()} == {"cohn-kanade-images", "Emotion", "Landmarks", ACQUIRED_FILE, RECORD}
    assert _listing(tree / "Landmarks") == _listing(synth_root / "ckplus/Landmarks")
    assert [s["sha256"] for s in rec["sources"]] == [sha256_file(z) for z in zips]
    assert rec["sources"][0]["sha256_expected"] == want and rec["sources"][1]["sha256_expected"] is None
    assert json.loads((tree / ACQUIRED_FILE).read_text()) == rec
    # The project keeps a verified copy of each archive, for DVC.
    assert sorted(p.name for p in (tmp_path / "archives").iterdir()) == sorted([RECORD, *(z.name for z in zips)])


def test_a_folder_and_a_file_url_are_sources_too(synth_root, tmp_path):
    acquire("rafdb", [str(synth_root / "rafdb")], tmp_path / "from_folder", log=lambda s: None)
    assert _listing(tmp_path / "from_folder") - {ACQUIRED_FILE, RECORD} == _listing(synth_root / "rafdb")
    z = pack(tmp_path / "dl/basic.tar.gz", {"basic": synth_root / "rafdb/basic"})
    rec = acquire("rafdb", [z.as_uri()], tmp_path / "from_url", keep=tmp_path / "archives", log=lambda s: None)
    assert rec["sources"][0]["source"] == z.as_uri() and rec["sources"][0]["sha256"] == sha256_file(z)
    assert (tmp_path / "archives/basic.tar.gz").is_file()
    assert _listing(tmp_path / "from_url") - {ACQUIRED_FILE, RECORD} == _listing(synth_root / "rafdb")


@pytest.fixture
def http_server(tmp_path):
    """A file server on loopback for the http:// sources, serving tmp_path/served."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_http_url_is_downloaded_verified_and_kept(synth_root, tmp_path, http_server):
    root, base = http_server
    z = pack(root / "basic.zip", {"basic": synth_root / "rafdb/basic"})
    url = f"{base}/basic.zip"
    rec = acquire("rafdb", [url], tmp_path / "raw/rafdb", sha256=[sha256_file(z)], keep=tmp_path / "archives",
                  log=lambda s: None)
    assert rec["sources"][0]["source"] == url and rec["sources"][0]["sha256_expected"] == sha256_file(z)
    assert sha256_file(tmp_path / "archives/basic.zip") == sha256_file(z)
    assert _listing(tmp_path / "raw/rafdb") - {ACQUIRED_FILE, RECORD} == _listing(synth_root / "rafdb")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["rafdb"]  # the download folder is gone
    with pytest.raises(DataError, match=re.escape(f"{base}/nope.zip: download failed (HTTP Error 404")):
        acquire("rafdb", [f"{base}/nope.zip"], tmp_path / "raw/other", log=lambda s: None)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["rafdb"]


def test_checksum_mismatch_is_refused_and_leaves_no_tree(synth_root, tmp_path, capsys):
    zips = ckplus_zips(synth_root / "ckplus", tmp_path / "dl", nested=False)
    argv = ["acquire", "--dataset", "ckplus", "--out", str(tmp_path / "raw/ckplus"), "--keep", str(tmp_path / "keep")]
    for z in zips:
        argv += ["--source", str(z), "--sha256", "0" * 64 if z == zips[1] else "-"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(zips[1]) in err and "sha256" in err and "0" * 64 in err
    assert not (tmp_path / "raw/ckplus").exists()
    assert [p.name for p in (tmp_path / "raw").iterdir()] == []  # no temporary left either
    assert list((tmp_path / "keep").iterdir()) == []  # not even the first archive, which passed


def _zip_with(path: Path, name: str, data: bytes = b"x", mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("basic/EmoLabel/list_patition_label.txt", "train_00001.jpg 1\n")
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        z.writestr(info, data)
    return path


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    with tarfile.open(path, "w") as t:
        ok = tarfile.TarInfo("basic/EmoLabel/list_patition_label.txt")
        ok.size = 18
        t.addfile(ok, io.BytesIO(b"train_00001.jpg 1\n"))
        member.size = len(data) if member.isfile() else 0
        t.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def _link(name, target, kind=tarfile.SYMTYPE):
    m = tarfile.TarInfo(name)
    m.type, m.linkname = kind, target
    return m


def _device(name):
    m = tarfile.TarInfo(name)
    m.type, m.devmajor, m.devminor = tarfile.CHRTYPE, 1, 3
    return m


BAD_ARCHIVES = {
    "zip traversal": (lambda p: _zip_with(p / "a.zip", "../../escaped.txt"), "'..'"),
    "zip absolute": (lambda p: _zip_with(p / "a.zip", "/tmp/escaped.txt"), "absolute path"),
    "zip link out": (lambda p: _zip_with(p / "a.zip", "basic/evil", b"../../../outside", 0o120777), "outside"),
    "tar traversal": (lambda p: _tar_with(p / "a.tar", tarfile.TarInfo("basic/../../escaped.txt"), b"x"), "'..'"),
    "tar absolute": (lambda p: _tar_with(p / "a.tar", tarfile.TarInfo("/tmp/escaped.txt"), b"x"), "absolute path"),
    "tar symlink out": (lambda p: _tar_with(p / "a.tar", _link("basic/evil", "../../../outside")), "outside"),
    "tar absolute symlink": (lambda p: _tar_with(p / "a.tar", _link("basic/evil", "/etc/passwd")), "absolute"),
    "tar hardlink out": (lambda p: _tar_with(p / "a.tar", _link("basic/evil", "../../x", tarfile.LNKTYPE)), "outside"),
    "tar device": (lambda p: _tar_with(p / "a.tar", _device("basic/null")), "device"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARCHIVES))
def test_unsafe_members_are_refused_before_anything_is_written(case, tmp_path, capsys):
    make, why = BAD_ARCHIVES[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = make(tmp_path)
    before = _listing(tmp_path)
    rc = main(["acquire", "--dataset", "rafdb", "--source", str(archive), "--out", str(work / "raw/rafdb")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(archive) in err and "refused member" in err and why in err
    assert _listing(tmp_path) == before | {"work/raw"}  # the empty parent of --out, nothing else
    assert not any((work / "raw").iterdir())
    assert not Path("/tmp/escaped.txt").exists()


def test_corrupted_archive_is_refused_and_an_earlier_tree_survives(synth_root, tmp_path):
    z = pack(tmp_path / "dl/basic.zip", {"basic": synth_root / "rafdb/basic"})
    out = tmp_path / "raw/rafdb"
    acquire("rafdb", [str(z)], out, log=lambda s: None)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    # A flipped byte inside a member's compressed data: the zip's CRC check catches it.
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("basic/EmoLabel/list_patition_label.txt")
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    bad = tmp_path / "dl/flipped.zip"
    bad.write_bytes(bytes(data))
    truncated = tmp_path / "dl/truncated.tar.gz"
    whole = pack(tmp_path / "dl/whole.tar.gz", {"basic": synth_root / "rafdb/basic"}).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    for archive in (bad, truncated):
        with pytest.raises(DataError, match=f"{archive}: corrupted or truncated archive"):
            acquire("rafdb", [str(archive)], out, log=lambda s: None)
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
        assert sorted(p.name for p in out.parent.iterdir()) == ["rafdb"]


def test_two_sources_with_different_bytes_at_one_path_are_an_error(synth_root, tmp_path):
    a = pack(tmp_path / "a.zip", {"basic/EmoLabel": synth_root / "rafdb/basic/EmoLabel"})
    other = tmp_path / "other/EmoLabel"
    other.mkdir(parents=True)
    (other / "list_patition_label.txt").write_text("train_00001.jpg 2\n")
    b = pack(tmp_path / "b.zip", {"basic/EmoLabel": other})
    with pytest.raises(DataError, match="list_patition_label.txt is also in an earlier source"):
        acquire("rafdb", [str(a), str(b)], tmp_path / "raw", log=lambda s: None)
    assert not (tmp_path / "raw").exists()
    # The same bytes twice (a README in every zip) are fine.
    acquire("rafdb", [str(a), str(a)], tmp_path / "raw", log=lambda s: None)


def test_missing_source_and_unknown_archive_type_name_the_file(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope.zip'}: source not found"):
        acquire("ckplus", [str(tmp_path / "nope.zip")], tmp_path / "raw", log=lambda s: None)
    (tmp_path / "data.rar").write_bytes(b"Rar!")
    with pytest.raises(DataError, match="data.rar: not a folder nor a known archive"):
        acquire("ckplus", [str(tmp_path / "data.rar")], tmp_path / "raw", log=lambda s: None)
    with pytest.raises(DataError, match="2 checksums for 1 sources"):
        acquire("ckplus", [str(tmp_path / "data.rar")], tmp_path / "raw", sha256=["-", "-"], log=lambda s: None)


def test_an_archive_inside_a_source_is_checked_like_any_other(tmp_path):
    inner = _zip_with(tmp_path / "aligned.zip", "../../../escaped.txt")
    basic = tmp_path / "basic"
    (basic / "Image").mkdir(parents=True)
    inner.rename(basic / "Image/aligned.zip")
    outer = pack(tmp_path / "dl/basic.zip", {"basic": basic})
    # A folder source's contents are copied, an archive's members keep their top folder.
    for src, inside in ((basic, "Image/aligned.zip"), (outer, "basic/Image/aligned.zip")):
        with pytest.raises(DataError, match=re.escape(f"{src}!{inside}: refused member '../../../escaped.txt'")):
            acquire("rafdb", [str(src)], tmp_path / "raw/rafdb", log=lambda s: None)
        assert list((tmp_path / "raw").iterdir()) == []
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_an_archive_beside_a_folder_of_its_name_is_left_packed(tmp_path):
    image = tmp_path / "basic/Image"
    (image / "aligned").mkdir(parents=True)
    (image / "aligned/train_00001_aligned.jpg").write_bytes(b"jpeg")
    _zip_with(image / "aligned.zip", "aligned/train_00002_aligned.jpg")
    logged = []
    rec = acquire("rafdb", [str(tmp_path / "basic")], tmp_path / "raw", log=logged.append)
    assert sorted(p.name for p in (tmp_path / "raw/Image").iterdir()) == ["aligned", "aligned.zip"]
    assert [p.name for p in (tmp_path / "raw/Image/aligned").iterdir()] == ["train_00001_aligned.jpg"]
    assert rec["unpacked_inside"] == [] and "left Image/aligned.zip packed: Image/aligned is already there" in logged


def test_macos_metadata_files_named_like_archives_are_not_opened(tmp_path):
    basic = tmp_path / "basic"
    (basic / "Image").mkdir(parents=True)
    with zipfile.ZipFile(basic / "Image/aligned.zip", "w") as z:
        z.writestr("aligned/train_00002_aligned.jpg", b"jpeg")
    (basic / "Image/._aligned.zip").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (tmp_path / "mac/__MACOSX/basic/Image").mkdir(parents=True)
    (tmp_path / "mac/__MACOSX/basic/Image/aligned.zip").write_bytes(b"\x00\x05\x16\x07")
    rec = acquire("rafdb", [str(basic), str(tmp_path / "mac")], tmp_path / "raw", log=lambda s: None)
    assert [n["archive"] for n in rec["unpacked_inside"]] == ["Image/aligned.zip"]
    assert (tmp_path / "raw/Image/aligned/train_00002_aligned.jpg").is_file()
    assert (tmp_path / "raw/Image/._aligned.zip").is_file()


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_folder_source_with_a_link_leading_out_of_it_is_refused(tmp_path, kind):
    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    (outside / "secret/key.txt").write_text("x")
    basic = tmp_path / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "EmoLabel/list_patition_label.txt").write_text("train_00001.jpg 1\n")
    link = basic / "EmoLabel/evil"
    link.symlink_to(outside / "secret/key.txt" if kind == "file" else outside / "secret")
    with pytest.raises(DataError, match=re.escape(f"{link}: link to ") + ".*outside the source folder"):
        acquire("rafdb", [str(basic)], tmp_path / "raw/rafdb", log=lambda s: None)
    assert list((tmp_path / "raw").iterdir()) == []
    # A link that stays inside the folder is copied as the file it points to.
    link.unlink()
    link.symlink_to(basic / "EmoLabel/list_patition_label.txt")
    acquire("rafdb", [str(basic)], tmp_path / "raw/rafdb", log=lambda s: None)
    assert (tmp_path / "raw/rafdb/EmoLabel/evil").read_text() == "train_00001.jpg 1\n"


def test_the_cli_lists_the_archives_it_unpacked_inside_a_source(tmp_path, capsys):
    basic = tmp_path / "basic"
    (basic / "Image").mkdir(parents=True)
    with zipfile.ZipFile(basic / "Image/aligned.zip", "w") as z:
        z.writestr("aligned/train_00001_aligned.jpg", b"jpeg")
    digest = sha256_file(basic / "Image/aligned.zip")
    assert main(["acquire", "--dataset", "rafdb", "--source", str(basic), "--out", str(tmp_path / "raw")]) == 0
    assert f"{basic}!Image/aligned.zip: unpacked into Image/aligned, sha256 {digest}" in capsys.readouterr().out
