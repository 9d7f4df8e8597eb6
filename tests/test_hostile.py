"""Hostile files: each loads with at most a one-line warning naming it; the rest still loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aikb.index import Index
from aikb.vault import FileStat, load_note

from .conftest import BUNDLED, Runner

NAMES = [
    "with space.md",
    "hash#name.md",
    "bracket[1].md",
    "question?.md",
    "Кириллица.md",
    "emoji 🚀.md",
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.md").write_text("# Secret\n", encoding="utf-8")
    (root / "good.md").write_text(
        "# Good\n[[with space]] [[Кириллица]] [[emoji 🚀]]\n", encoding="utf-8"
    )
    (root / "invalid utf8.md").write_bytes(b"# Bad bytes\n\xff\xfe\xfa text [[good]]\n")
    (root / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "empty.md").write_bytes(b"")
    (root / "big.md").write_text(
        ("Words and [[good]] words. " * 40 + "\n\n") * 5000, encoding="utf-8"
    )
    (root / "long line.md").write_text("word [[good]] " * 80_000, encoding="utf-8")
    (root / "many lines.md").write_text("line\n" * 100_000, encoding="utf-8")
    (root / "utf16.md").write_bytes("# Шестнадцать\n[[good]]\n".encode("utf-16"))
    for name in NAMES:
        (root / name).write_text(f"# {name[:-3]}\n[[good]]\n", encoding="utf-8")
    deep = root
    for level in range(30):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "deep.md").write_text("# Deep\n[[good]]\n", encoding="utf-8")
    os.symlink("loop.md", root / "loop.md")
    os.symlink(root, root / "self-folder")
    os.symlink(outside, root / "outside-folder")
    os.symlink(outside / "secret.md", root / "secret-link.md")
    (root / "escape.md").write_text(
        "[[../../etc/passwd]] [x](../../../x.md) [[secret]]\n", encoding="utf-8"
    )
    return root


@pytest.fixture(scope="module")
def loaded(hostile: Path) -> tuple[Index, list[str]]:
    index = Index.open(hostile, None)
    report = index.sync()
    return index, [str(p) for p in report.problems]


def test_every_other_note_loads(loaded: tuple[Index, list[str]]) -> None:
    index, _ = loaded
    ids = {c.id for c in index.concepts(notes_only=True)}
    expected = {
        "good",
        "invalid utf8",
        "binary",
        "empty",
        "big",
        "long line",
        "many lines",
        "utf16",
        "escape",
        *(n[:-3] for n in NAMES),
        "/".join(f"d{i}" for i in range(30)) + "/deep",
    }
    assert expected <= ids
    assert not any("secret" in i or "outside" in i or "self-folder" in i for i in ids)


def test_warnings_name_the_file_one_line_each(loaded: tuple[Index, list[str]]) -> None:
    _, problems = loaded
    assert all("\n" not in p for p in problems)
    by_file = {p.split(":")[0] for p in problems}
    assert by_file == {"invalid utf8.md", "binary.md", "loop.md"}
    assert any("invalid UTF-8" in p and p.startswith("invalid utf8.md:2") for p in problems)


def test_content_survives(loaded: tuple[Index, list[str]]) -> None:
    index, _ = loaded
    assert index.concept("invalid utf8#Bad bytes") is not None
    assert index.concept("utf16#Шестнадцать") is not None
    good = index.concept("good")
    assert good is not None
    sources = {b.source.split("#")[0] for b in index.backlinks(good)}
    assert {"invalid utf8", "big", "long line", "utf16", "hash#name"} <= sources or {
        "invalid utf8",
        "big",
        "long line",
        "utf16",
    } <= sources


def test_links_never_leave_the_vault(loaded: tuple[Index, list[str]]) -> None:
    index, _ = loaded
    escape = index.concept("escape")
    assert escape is not None
    assert [(i.link.text, i.reason) for i in index.links_from(escape)] == [
        ("../../etc/passwd", "missing note"),
        ("../../../x.md", "missing note"),
        ("secret", "missing note"),
    ]


def test_unreadable_and_vanished_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.md").write_text("fine\n", encoding="utf-8")
    locked = tmp_path / "locked.md"
    locked.write_text("secret\n", encoding="utf-8")
    real_open = os.open

    def guarded_open(path: str, *args: int) -> int:
        if str(path).endswith("locked.md"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args)

    monkeypatch.setattr(os, "open", guarded_open)
    note = load_note(tmp_path, FileStat("locked.md", 7, 0))
    assert [str(p) for p in note.parsed.problems] == [
        "locked.md: cannot read file: permission denied; listed without its text"
    ]
    gone = load_note(tmp_path, FileStat("gone.md", 1, 0))
    assert [str(p) for p in gone.parsed.problems] == [
        "gone.md: file disappeared while reading; listed without its text"
    ]


def test_notes_are_read_whole_across_reads_and_cut_at_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Notes are read a chunk at a time; a chunk may end inside a UTF-8 character.
    text = "# Окно\n" + "контекст [[B]] " * 50 + "\n"
    (tmp_path / "long.md").write_text(text, encoding="utf-8")
    size = len(text.encode("utf-8"))
    monkeypatch.setattr("aikb.vault.READ_CHUNK", 7)
    note = load_note(tmp_path, FileStat("long.md", size, 0))
    assert note.parsed.problems == ()
    assert note.parsed.body == text
    assert len(note.parsed.links) == 50
    monkeypatch.setattr("aikb.vault.MAX_NOTE_BYTES", size)
    assert load_note(tmp_path, FileStat("long.md", size, 0)).parsed.body == text
    monkeypatch.setattr("aikb.vault.MAX_NOTE_BYTES", size - 1)
    cut = load_note(tmp_path, FileStat("long.md", size, 0))
    assert cut.parsed.body == ""
    assert [p.message for p in cut.parsed.problems] == ["larger than 0 MiB, content skipped"]


def test_a_note_under_a_lease_is_read_once_the_lease_is_let_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A program holding a lease (Samba) makes a non-blocking open fail with EAGAIN; a
    # plain open waits until the lease is let go, then reads.
    (tmp_path / "leased.md").write_text("# Leased\n[[B]]\n", encoding="utf-8")
    real_open = os.open
    flags_seen: list[int] = []

    def leased_open(path: str, flags: int, *args: int) -> int:
        flags_seen.append(flags)
        if flags & getattr(os, "O_NONBLOCK", 0):
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", leased_open)
    note = load_note(tmp_path, FileStat("leased.md", 14, 0))
    assert note.parsed.problems == ()
    assert [link.target for link in note.parsed.links] == ["B"]
    assert len(flags_seen) == (2 if hasattr(os, "O_NONBLOCK") else 1)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_named_pipe_where_a_note_was_listed_is_not_read(tmp_path: Path) -> None:
    # A note replaced by a pipe between listing and reading: no writer ever comes.
    os.mkfifo(tmp_path / "pipe.md")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from aikb.vault import FileStat, load_note;"
            "note = load_note(Path(sys.argv[1]), FileStat('pipe.md', 0, 0));"
            "print(repr(note.parsed.body), note.size, [p.message for p in note.parsed.problems])",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "'' -1 ['cannot read file: not a regular file; listed without its text']"
    )


def test_cli_survives_the_hostile_vault(aikb: Runner, hostile: Path) -> None:
    result = aikb("list", "--notes", "--json", vault=hostile)
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 16
    assert "Traceback" not in result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 3 and all(w.startswith("aikb: warning: ") for w in warnings)
    shown = aikb("show", "bracket[1]", vault=hostile)
    assert shown.exit_code == 0 and "bracket[1]" in shown.stdout
    assert aikb("search", "words", vault=hostile).exit_code == 0
    assert aikb("check", vault=hostile).exit_code == 1


def _aikb_process(
    tmp_path: Path, *args: str, stdout: object, close_stdout: bool = False
) -> subprocess.CompletedProcess[str]:
    """aikb as a whole process on the bundled vault, with its own cache."""
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "aikb", "--vault", str(BUNDLED), *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=(lambda: os.close(1)) if close_stdout else None,
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [("list", "--json"), ("show", "Temperature", "--no-pager")])
def test_output_to_a_full_disk_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str]) -> None:
    with open("/dev/full", "w") as full:
        result = _aikb_process(tmp_path, *args, stdout=full)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("\n" + result.stderr).endswith(
        "\naikb: cannot write the output: No space left on device\n"
    )


@pytest.mark.skipif(os.name != "posix", reason="closes a descriptor before exec")
def test_a_closed_stdout_discards_the_output_without_a_traceback(tmp_path: Path) -> None:
    listed = _aikb_process(tmp_path, "list", "--json", stdout=None, close_stdout=True)
    assert (listed.returncode, listed.stderr) == (0, "")
    indexed = _aikb_process(tmp_path, "index", stdout=None, close_stdout=True)
    assert indexed.returncode == 0 and indexed.stderr.startswith("aikb: index up to date: 18 notes")


def test_a_warning_about_a_file_named_with_line_breaks_stays_one_line(
    aikb: Runner, tmp_path: Path
) -> None:
    (tmp_path / "two\nlines\tand tab.md").write_text("---\nkey: [unclosed\n---\n# T\n")
    (tmp_path / "line\u2028and paragraph\u2029separators.md").write_text("---\nx: [\n---\n")
    (tmp_path / "fine.md").write_text("# Fine\n")
    result = aikb("list", vault=tmp_path)
    assert result.exit_code == 0 and "Fine" in result.stdout
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("aikb: ") for line in lines)
    assert any("two\u2424lines\u2409and tab.md" in line for line in lines)
    assert any("line\u2424and paragraph\u2424separators.md" in line for line in lines)
