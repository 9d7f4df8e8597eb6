"""The on-disk index: incremental updates answer exactly like a fresh parse; broken or
concurrent databases never break a command; start-up stays lean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aikb.index import Changes, Index, changes_since, database_path, survey
from aikb.search import snippet
from aikb.terms import stems
from aikb.vault import cache_dir, in_background, scan

from .conftest import BUNDLED, Runner


def snapshot(aikb: Runner, vault: Path, *extra: str) -> dict[str, object]:
    """Everything the commands answer about a vault, as comparable data."""
    out: dict[str, object] = {}
    listed = aikb(*extra, "list", "--json", vault=vault)
    out["list"] = json.loads(listed.stdout) if listed.exit_code == 0 else listed.exit_code
    for concept in out["list"] if isinstance(out["list"], list) else []:
        if concept["kind"] != "note" and not concept["id"].startswith(("Tokens", "New idea")):
            continue  # every note, and the sections of the notes that change
        shown = aikb(*extra, "show", concept["id"], "--json", vault=vault)
        out[f"show {concept['id']}"] = json.loads(shown.stdout)
    out["check"] = json.loads(aikb(*extra, "check", "--json", vault=vault).stdout)
    for query in ("context window", "окно", "temperature sampling"):
        found = aikb(*extra, "search", query, "--json", vault=vault)
        out[f"search {query}"] = json.loads(found.stdout) if found.exit_code == 0 else []
    return out


def touch(path: Path, text: str) -> None:
    """Write a file and make sure its mtime differs from before (coarse file systems)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_rewrite_with_same_size_and_restored_mtime_is_seen(aikb: Runner, tmp_path: Path) -> None:
    # rsync -t, tar and touch -d put the old mtime back; the size may not change either.
    note = tmp_path / "a.md"
    note.write_text("# Alpha\nfirst [[betaa]]\n", encoding="utf-8")
    os.utime(note, ns=(10**18, 10**18))
    assert aikb("search", "first", vault=tmp_path).exit_code == 0
    time.sleep(0.02)  # a ctime the file system can tell apart
    note.write_text("# Alpha\nfifth [[gamma]]\n", encoding="utf-8")
    os.utime(note, ns=(10**18, 10**18))
    found = aikb("search", "fifth", "--json", vault=tmp_path)
    assert found.exit_code == 0 and json.loads(found.stdout)[0]["id"] == "a#Alpha"
    assert aikb("search", "first", vault=tmp_path).exit_code == 1


def test_incremental_updates_match_a_fresh_parse(aikb: Runner, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    assert snapshot(aikb, vault) == snapshot(aikb, vault, "--no-cache")
    # edit: a heading disappears, a link appears
    tokens = vault / "Tokens.md"
    touch(
        tokens,
        tokens.read_text(encoding="utf-8").replace("## Counting tokens", "## Token counts")
        + "\nSee [[Embeddings]].\n",
    )
    # add a note that takes over a name and links around
    touch(
        vault / "New idea.md",
        "---\naliases: [Идея]\n---\n# New idea\n[[Tokens#Token counts]] "
        "[[Context window#^window-definition]] [[Mixture of experts]]\n",
    )
    # the missing note appears
    touch(vault / "techniques" / "Mixture of experts.md", "# MoE\nSparse experts.\n")
    # rename and delete
    (vault / "RAG.md").rename(vault / "Retrieval.md")
    (vault / "Temperature.md").unlink()
    assert snapshot(aikb, vault) == snapshot(aikb, vault, "--no-cache")
    data = json.loads(aikb("show", "New idea", "--json", vault=vault).stdout)
    assert [link["reason"] for link in data["links"]] == [None, None, None]
    check = json.loads(aikb("check", "--json", vault=vault).stdout)
    reasons = {p["target"]: p["kind"] for p in check["problems"]}
    assert reasons.get("Tokens#Counting tokens") == "missing heading"
    assert reasons.get("RAG") == "missing note" and reasons.get("Temperature") == "missing note"


def test_attachments_appearing_and_disappearing(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("![[pic.png]]\n", encoding="utf-8")
    assert json.loads(aikb("check", "--json", vault=tmp_path).stdout)["counts"] == {
        "missing attachment": 1
    }
    (tmp_path / "pic.png").write_bytes(b"png")
    assert aikb("check", vault=tmp_path).exit_code == 0
    (tmp_path / "pic.png").unlink()
    assert aikb("check", vault=tmp_path).exit_code == 1


@pytest.mark.parametrize("damage", [b"", b"garbage that is not sqlite" * 10, "truncate"])
def test_damaged_database_is_rebuilt(aikb: Runner, seed_dir: Path, damage: bytes | str) -> None:
    assert aikb("index", vault=seed_dir).exit_code == 0
    path = database_path(seed_dir, cache_dir())
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        path.write_bytes(damage)  # type: ignore[arg-type]
    for wal in (Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        wal.unlink(missing_ok=True)
    result = aikb("show", "context window", "--json", vault=seed_dir)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["title"] == "Context window, Контекстное окно (flow)"
    assert "Traceback" not in result.stderr


def test_unwritable_cache_falls_back_to_memory(
    aikb: Runner, seed_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    result = aikb(
        "show",
        "inference",
        "--json",
        vault=seed_dir,
        env={"AIKB_CACHE_DIR": str(blocker / "cache")},
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "Inference (Model Inference)"
    assert result.stderr.count("\n") == 1 and "in-memory index" in result.stderr


def test_index_command_fails_when_it_cannot_save(
    aikb: Runner, seed_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    result = aikb("index", vault=seed_dir, env={"AIKB_CACHE_DIR": str(blocker / "cache")})
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("aikb: indexed 1 note in memory only")
    assert aikb("--no-cache", "index", vault=seed_dir).exit_code == 0


def test_other_schema_version_is_rebuilt(seed_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    index = Index.open(seed_dir, path)
    index.sync()
    index.conn.execute("UPDATE meta SET value = 'old' WHERE key = 'schema'")
    index.close()
    again = Index.open(seed_dir, path)
    assert again.note_count() == 0  # dropped, to be rebuilt
    again.sync()
    assert again.note_count() == 1


def test_concurrent_builds_leave_a_correct_index(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "aikb", "--vault", str(vault)]
    # Builds, rebuilds (which must not pull the file from under the others) and reads.
    runs = [["index"], ["index", "--rebuild"], ["index", "--rebuild"], ["index"], ["list"]]
    procs = [
        subprocess.Popen(
            command + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for args in runs
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(runs), errors
    assert not any("in-memory" in e or "memory only" in e for e in errors), errors
    index = Index.open(vault, database_path(vault, tmp_path / "cache"))
    assert index.note_count() == len(list(vault.rglob("*.md")))
    fresh = Index.open(vault, None)
    fresh.sync()
    assert [c.id for c in index.concepts()] == [c.id for c in fresh.concepts()]
    assert list(index.all_links()) == list(fresh.all_links())


def _linked_vault(vault: Path) -> Path:
    """300 notes in 7 folders, linking to notes, headings, missing notes and blocks."""
    for number in range(300):  # above the threshold for worker processes
        (vault / f"f{number % 7}").mkdir(parents=True, exist_ok=True)
        links = (
            f"[[n{(number * 7) % 300}]] [[n{number + 1}#Part {number % 3}]]"
            f" [[f{number % 7}/n{number % 11}#^b{number % 4}]] [[n{number}#Nowhere]]"
        )
        (vault / f"f{number % 7}" / f"n{number}.md").write_text(
            f"---\naliases: [alias {number}]\n---\n# Title {number}\n## Part {number % 3}\n"
            f"{links} #tag{number % 5} ^b{number % 4}\n",
            encoding="utf-8",
        )
    return vault


def test_parallel_build_equals_serial(tmp_path: Path) -> None:
    vault = _linked_vault(tmp_path / "vault")
    serial = Index.open(vault, None)
    serial.sync(jobs=1)
    parallel = Index.open(vault, None)
    parallel.sync(jobs=2)
    assert [c for c in serial.concepts()] == [c for c in parallel.concepts()]
    assert list(serial.all_links()) == list(parallel.all_links())
    assert serial.fulltext(["alias"], limit=1000) == parallel.fulltext(["alias"], limit=1000)


@pytest.mark.parametrize("failure", ["no second worker", "workers die"])
def test_a_build_parses_itself_what_its_workers_could_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A worker that cannot start (a process limit) or dies on the way: the notes it did
    not send are parsed in the building process, and the index is whole."""
    import errno
    import multiprocessing.process

    import aikb.build

    vault = _linked_vault(tmp_path / "vault")
    serial = Index.open(vault, None)
    serial.sync(jobs=1)
    if failure == "no second worker":
        real_start = multiprocessing.process.BaseProcess.start
        started: list[object] = []

        def start(self: multiprocessing.process.BaseProcess) -> None:
            if started:
                raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
            started.append(self)
            real_start(self)

        monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start)
    else:
        real_worker = aikb.build._worker

        def dying(root: Path, batches: list[list[object]], pipe: object) -> None:
            real_worker(root, batches[:1], pipe)  # type: ignore[arg-type]
            os._exit(1)

        monkeypatch.setattr(aikb.build, "_worker", dying)
    failing = Index.open(vault, None)
    assert failing.sync(jobs=2).parsed == 300
    assert list(failing.concepts()) == list(serial.concepts())
    assert list(failing.all_links()) == list(serial.all_links())


@pytest.mark.parametrize("child", ["works", "fails at once", "fails half-way"])
def test_links_resolved_beside_a_child_process_equal_those_resolved_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """A full build resolves its links, part by part, in a forked child; the answers are
    the same as resolving all here, and the parts the child did not deliver before it
    failed are resolved here."""
    import aikb.index

    vault = _linked_vault(tmp_path / "vault")
    alone = Index.open(vault, None)
    alone.sync()
    expected = list(alone.all_links())
    reasons = {link.reason for link in expected}
    assert len(expected) == 1200
    assert reasons == {None, "missing block", "missing heading", "missing note"}
    monkeypatch.setattr(aikb.index, "PARALLEL_LINKS", 100)
    monkeypatch.setattr(aikb.index, "LINK_PART", 100)  # 12 parts
    parent = os.getpid()
    resolved_in: list[int] = []
    in_child: list[int] = []  # the child's own copy
    real = aikb.index._resolutions

    def recording(*args: object) -> object:
        if os.getpid() != parent:
            in_child.append(1)
            if child == "fails at once" or (child == "fails half-way" and len(in_child) > 5):
                os._exit(3)
        resolved_in.append(os.getpid())  # seen only in this process's list
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(aikb.index, "_resolutions", recording)
    beside = Index.open(vault, None)
    beside.sync()
    assert list(beside.all_links()) == expected
    # On Linux the child's parts were resolved there; after it failed, here.
    here = {"works": 0, "fails at once": 12, "fails half-way": 7}[child]
    assert len(resolved_in) == (here if sys.platform.startswith("linux") else 12)


def test_child_parts_arrive_in_order_and_the_child_is_reaped() -> None:
    from aikb.vault import in_child_parts

    before = set(_child_pids())
    with in_child_parts(lambda n: [n] * 50_000, 40) as parts:  # more than a pipe holds
        assert [found[0] for found in parts] == list(range(40))
    assert set(_child_pids()) == before
    with in_child_parts(lambda n: n, 10) as parts:
        for found in parts:
            if found == 3:
                break  # the rest is never read: the child is killed on leaving
    assert set(_child_pids()) == before


def test_child_parts_are_computed_here_beside_another_thread() -> None:
    import threading

    from aikb.vault import in_child_parts

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with in_child_parts(lambda n: (n, os.getpid()), 3) as parts:
            assert list(parts) == [(n, os.getpid()) for n in range(3)]  # forking is unsafe
    finally:
        stop.set()
        other.join()


def test_a_build_that_fails_after_forking_leaves_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import aikb.index

    vault = _linked_vault(tmp_path / "vault")
    monkeypatch.setattr(aikb.index, "PARALLEL_LINKS", 100)

    def full_disk(self: Index, texts: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(aikb.index.Index, "_add_words", full_disk)
    before = set(_child_pids())
    with pytest.raises(sqlite3.OperationalError):
        Index.open(vault, None).sync(jobs=1)
    assert set(_child_pids()) == before  # killed and reaped, not left writing to a pipe


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="children fork on Linux")
def test_a_forked_child_ends_with_its_parent() -> None:
    script = (
        "import time; from aikb.vault import in_child_parts;"
        "child = in_child_parts(lambda n: time.sleep(60), 1);"
        "print(child._pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break  # gone
        if state == "Z":
            break  # ended, waiting for its new parent to reap it
        time.sleep(0.05)
    else:
        pytest.fail("the child went on after its parent was killed")


def test_warm_run_parses_nothing_and_an_edit_parses_one(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    path = tmp_path / "db.sqlite3"
    first = Index.open(vault, path)
    assert first.sync().parsed == len(list(vault.rglob("*.md")))
    second = Index.open(vault, path)
    report = second.sync()
    assert report.parsed == 0 and report.removed == 0
    assert first.rebuilt and not second.rebuilt  # only a whole build skips `index`'s check
    touch(vault / "New.md", "# New\n[[Tokens]]\n")
    assert second.sync().parsed == 1
    assert not second.rebuilt
    (vault / "New.md").unlink()
    report = second.sync()
    assert (report.parsed, report.removed) == (0, 1)


def _listing_vault(root: Path) -> Path:
    """Notes in nested folders, attachments, a hidden folder, an undecodable file name."""
    for number in range(40):
        folder = root / f"f{number % 3}" / f"g{number % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        touch(folder / f"n{number}.md", f"# N{number}\n" + "text " * number)
    (root / "f0" / "pic.png").write_bytes(b"png")
    (root / ".obsidian").mkdir()
    touch(root / ".obsidian" / "hidden.md", "x")
    if sys.platform.startswith("linux"):
        (root / os.fsdecode(b"bad \xff name.md")).write_text("x", encoding="utf-8")
    return root


def test_background_listing_equals_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listing made in the background (a forked child on Linux) is scan's, problems
    included."""
    vault = _listing_vault(tmp_path / "vault")
    expected = scan(vault)
    assert len(expected.notes) == 40 and expected.attachments == ["f0/pic.png"]
    forks = []
    real_fork = os.fork

    def counting_fork() -> int:
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(os, "fork", counting_fork, raising=False)
    before = _child_pids()
    assert in_background(lambda: scan(vault))() == expected
    assert len(forks) == (1 if sys.platform.startswith("linux") else 0)
    assert _child_pids() == before  # the child was reaped, not left a zombie


def test_background_listing_survives_a_failing_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the forked child fails, the work is done in this process instead."""
    import aikb.vault

    vault = _listing_vault(tmp_path / "vault")
    expected = scan(vault)
    parent = os.getpid()
    real_scan = aikb.vault.scan

    def scan_failing_in_child(root: Path) -> aikb.vault.Listing:
        if os.getpid() != parent:
            raise RuntimeError("child fails")
        return real_scan(root)

    monkeypatch.setattr(aikb.vault, "scan", scan_failing_in_child)
    assert in_background(lambda: aikb.vault.scan(vault))() == expected


def test_background_listing_uses_a_thread_beside_other_threads(tmp_path: Path) -> None:
    """With other threads running, forking is unsafe: the listing runs in a thread."""
    import threading

    vault = _listing_vault(tmp_path / "vault")
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        children_before = set(_child_pids())
        wait = in_background(lambda: scan(vault))
        assert set(_child_pids()) == children_before  # no child was started
        assert wait() == scan(vault)
    finally:
        release.set()
        other.join()


def test_background_work_never_forks_beside_a_thread_threading_does_not_know(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread started with ``_thread`` (as C libraries start theirs) is invisible to
    ``threading.active_count()``; forking beside it could leave the child stuck on a lock
    it holds (seen: SQLite's allocator)."""
    import _thread
    import threading

    vault = _listing_vault(tmp_path / "vault")
    forks = []
    real_fork = os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork(), raising=False)
    release = threading.Event()
    _thread.start_new_thread(release.wait, ())
    try:
        assert in_background(lambda: scan(vault))() == scan(vault)
    finally:
        release.set()
    assert forks == []


def test_background_work_runs_here_when_no_thread_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import aikb.vault

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(aikb.vault, "_single_threaded", lambda: False)
    monkeypatch.setattr(threading.Thread, "start", refuse)
    vault = _listing_vault(tmp_path / "vault")
    assert in_background(lambda: scan(vault))() == scan(vault)


@pytest.mark.parametrize("beside_a_thread", [False, True])
def test_background_work_says_when_it_is_ready(tmp_path: Path, beside_a_thread: bool) -> None:
    """``ready()`` is False while the work runs (a forked child, or a thread when other
    threads run) and True once waiting would not block; the result is unchanged."""
    import threading

    gate = tmp_path / "go"
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    if beside_a_thread:
        other.start()

    def work() -> str:
        while not gate.exists():
            time.sleep(0.01)
        return "done"

    try:
        pending = in_background(work)
        time.sleep(0.1)
        assert not pending.ready()
        gate.touch()
        deadline = time.monotonic() + 10
        while not pending.ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pending.ready()
        assert pending() == "done"
    finally:
        release.set()
        if beside_a_thread:
            other.join()


def test_background_work_raises_in_the_waiting_process(tmp_path: Path) -> None:
    def broken() -> None:
        raise ValueError("work fails")

    with pytest.raises(ValueError, match="work fails"):
        in_background(broken)()


def test_survey_leaves_the_listing_out_when_the_index_holds_it(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    path = tmp_path / "db.sqlite3"
    listing, changes = survey(vault, path)
    assert listing == scan(vault) and changes is None  # no database yet
    Index.open(vault, path).sync()
    listing, changes = survey(vault, path)
    assert listing is None and changes is not None and changes.todo is None
    index = Index.open(vault, path)
    report = index.sync(listing=listing, changes=changes)
    assert (report.total, report.parsed) == (len(scan(vault).notes), 0)
    touch(vault / "Tokens.md", "# Tokens\nEdited.\n")
    listing, changes = survey(vault, path)  # the changes stand for the listing
    assert listing is None and changes is not None
    assert [f.path for f in changes.todo or []] == ["Tokens.md"]
    assert changes.notes == len(scan(vault).notes)
    assert index.sync(listing=listing, changes=changes).parsed == 1
    assert Index.open(vault, path).sync().parsed == 0  # it saved the listing's digest
    assert survey(vault, None) == (scan(vault), None)


def test_changes_found_in_the_background_update_the_index_exactly(tmp_path: Path) -> None:
    """``changes_since`` (what a command's background child compares) names the notes to
    parse and the ones gone; a sync given them ends where a sync without them does."""
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    path = tmp_path / "db.sqlite3"
    assert changes_since(path, vault, scan(vault)) is None  # no database yet
    Index.open(vault, path).sync()
    unchanged = changes_since(path, vault, scan(vault))
    assert unchanged is not None and unchanged.todo is None
    touch(vault / "Tokens.md", "# Tokens\nNow about [[Embeddings]].\n")
    touch(vault / "New idea.md", "# New idea\n[[Tokens]]\n")
    (vault / "Temperature.md").unlink()
    listing = scan(vault)
    changes = changes_since(path, vault, listing)
    assert changes is not None and changes.snapshot == unchanged.snapshot
    assert [f.path for f in changes.todo or []] == ["New idea.md", "Tokens.md"]
    assert changes.removed == ["Temperature.md"]
    index = Index.open(vault, path)
    report = index.sync(listing=listing, changes=changes)
    assert (report.parsed, report.removed) == (2, 1)
    fresh = Index.open(vault, None)
    fresh.sync()
    assert list(index.concepts()) == list(fresh.concepts())
    assert list(index.all_links()) == list(fresh.all_links())


def _indexed_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the bundled vault and the path of its freshly built index."""
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    path = tmp_path / "db.sqlite3"
    Index.open(vault, path).sync()
    return vault, path


def test_stale_background_changes_are_not_trusted(tmp_path: Path) -> None:
    """Changes compared before another process saved an update are ignored: the sync
    compares again under the write lock (here they would re-add a deleted note's rows and
    miss an edit)."""
    vault, path = _indexed_copy(tmp_path)
    touch(vault / "Tokens.md", "# Tokens\nFirst edit.\n")
    stale = changes_since(path, vault, scan(vault))
    assert stale is not None and [f.path for f in stale.todo or []] == ["Tokens.md"]
    Index.open(vault, path).sync()  # another process brings the index up to date
    touch(vault / "Embeddings.md", "# Embeddings\nEdited after the comparison.\n")
    index = Index.open(vault, path)
    report = index.sync(listing=scan(vault), changes=stale)
    assert report.parsed == 1  # Embeddings, found by comparing again; not Tokens
    assert [hit[0] for hit in index.fulltext(stems("edited after"))] == ["Embeddings#Embeddings"]
    unchanged = Changes(stale.snapshot, 0)  # "nothing to do", but about an older state
    touch(vault / "Embeddings.md", "# Embeddings\nEdited once more.\n")
    assert index.sync(changes=unchanged).parsed == 1  # no listing given: it lists itself


def test_changes_without_their_listing_bring_the_index_to_that_listing(tmp_path: Path) -> None:
    """Changes handed to a sync without their listing stand for it: the index saves that
    listing's digest, so an edit made after it is found by the next sync, not lost."""
    vault, path = _indexed_copy(tmp_path)
    touch(vault / "Tokens.md", "# Tokens\nFirst edit.\n")
    (vault / "pic.png").write_bytes(b"png")
    changes = changes_since(path, vault, scan(vault))
    touch(vault / "Embeddings.md", "# Embeddings\nSecond edit.\n")
    index = Index.open(vault, path)
    assert index.sync(changes=changes).parsed == 1
    assert index.sync().parsed == 1  # the second edit
    assert Index.open(vault, path).sync().parsed == 0
    fresh = Index.open(vault, None)
    fresh.sync()
    assert list(index.concepts()) == list(fresh.concepts())
    assert list(index.all_links()) == list(fresh.all_links())


def test_changes_made_stale_while_waiting_for_the_lock_are_compared_again(
    tmp_path: Path,
) -> None:
    """Changes without their listing, found stale once the write lock is held (another
    process saved an update in between): the sync lists and compares again itself."""
    vault, path = _indexed_copy(tmp_path)
    touch(vault / "Tokens.md", "# Tokens\nFirst edit.\n")
    changes = changes_since(path, vault, scan(vault))
    assert changes is not None and changes.todo
    index = Index.open(vault, path)
    begin = index._begin_write

    def another_process_first(waiting: object) -> None:
        touch(vault / "New idea.md", "# New idea\n[[Tokens]]\n")
        Index.open(vault, path).sync()  # brings the index past the changes' listing
        touch(vault / "Embeddings.md", "# Embeddings\nEdited after the comparison.\n")
        begin(waiting)  # type: ignore[arg-type]

    index._begin_write = another_process_first  # type: ignore[method-assign]
    report = index.sync(changes=changes)
    assert report.parsed == 1  # Embeddings, found by listing again; not Tokens, not New idea
    assert report.total == len(scan(vault).notes) == changes.notes + 1
    assert [hit[0] for hit in index.fulltext(stems("edited after"))] == ["Embeddings#Embeddings"]
    assert Index.open(vault, path).sync().parsed == 0


def test_no_background_comparison_with_another_schema(tmp_path: Path) -> None:
    import sqlite3

    vault, path = _indexed_copy(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'old' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    assert changes_since(path, vault, scan(vault)) is None
    assert changes_since(path, tmp_path, scan(vault)) is None  # another vault's database
    path.write_bytes(b"not a database" * 100)
    assert changes_since(path, vault, scan(vault)) is None


def _child_pids() -> list[int]:
    """Pids of this process's children (Linux /proc; empty elsewhere)."""
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_cli_import_stays_lean() -> None:
    code = (
        "import sys, aikb.cli; heavy = ['markdown_it', 'frontmatter', 'yaml', 'rapidfuzz',"
        " 'rich.markdown', 'textual', 'sqlite3']; print([m for m in heavy if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_search_list_check_graph_never_import_the_markdown_renderer() -> None:
    code = (
        "import sys, aikb.cli, aikb.search, aikb.render, aikb.check, aikb.graphs;"
        " heavy = ['markdown_it', 'rich.markdown', 'mdit_py_plugins', 'pygments'];"
        " print([m for m in heavy if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_keyboard_layout_fallback(aikb: Runner) -> None:
    def ids(query: str) -> list[str]:
        return [h["id"] for h in json.loads(aikb("search", query, "--json").stdout)]

    assert ids("rjyntrcn") == ids("контекст")
    assert ids("сщтеуче") == ids("context")


def test_word_forms_in_both_languages(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("Про контекстное окно модели.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("Modeling is what models do.\n", encoding="utf-8")
    for query, expected in (
        ("окна", "a"),
        ("окном", "a"),
        ("ОКНО", "a"),
        ("model", "b"),
        ("modeling", "b"),
        ("models", "b"),
        ("контекстного", "a"),
    ):
        hits = json.loads(aikb("search", query, "--json", vault=tmp_path).stdout)
        assert hits and hits[0]["id"] == expected, query
    (tmp_path / "c.md").write_text("Ёлка и ежик.\n", encoding="utf-8")
    hits = json.loads(aikb("search", "елка", "--json", vault=tmp_path).stdout)
    assert hits[0]["id"] == "c"


def test_a_sync_that_waited_for_another_does_not_redo_its_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several commands started on a new vault: the first builds the index; the others,
    which found it empty before waiting for the write lock, find it built once they hold
    the lock, instead of each parsing every note again."""
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    path = tmp_path / "db.sqlite3"
    late = Index.open(vault, path)
    real_begin = late._begin_write

    def other_process_builds_first(waiting: object) -> None:
        Index.open(vault, path).sync()
        real_begin(None)

    monkeypatch.setattr(late, "_begin_write", other_process_builds_first)
    report = late.sync()
    assert (report.parsed, report.total) == (0, len(scan(vault).notes))
    assert len(list(late.concepts())) > len(scan(vault).notes)


def test_a_note_unreadable_for_a_moment_is_read_again(tmp_path: Path) -> None:
    """A folder moved away between listing and reading (and back, so no file's stamp
    changes) left its notes stored empty until they changed; now they are read again."""
    vault = tmp_path / "vault"
    (vault / "d").mkdir(parents=True)
    touch(vault / "a.md", "# A\n[[b]]\n")
    touch(vault / "d" / "b.md", "# B\nfirst\n")
    path = tmp_path / "db.sqlite3"
    Index.open(vault, path).sync()
    touch(vault / "d" / "b.md", "# B\nsecond version\n")
    listing = scan(vault)
    (vault / "d").rename(tmp_path / "away")
    report = Index.open(vault, path).sync(listing=listing)
    assert [p.message for p in report.problems] == [
        "file disappeared while reading; listed without its text"
    ]
    (tmp_path / "away").rename(vault / "d")
    assert scan(vault) == listing  # nothing on disk says the note changed
    index = Index.open(vault, path)
    again = index.sync()
    assert (again.parsed, again.problems) == (1, [])
    assert [hit[0] for hit in index.fulltext(stems("second version"))] == ["d/b#B"]
    assert Index.open(vault, path).sync().parsed == 0  # read once more, then settled


def test_words_of_deleted_notes_do_not_crowd_out_live_ones(aikb: Runner, tmp_path: Path) -> None:
    """The index keeps the words of deleted notes in its word list; with more recorded
    forms than a query stem may use, only those still indexed are used."""
    (tmp_path / "old.md").write_text(
        "# Old\n" + " ".join(f"zeta{i:03d}" for i in range(100)), encoding="utf-8"
    )
    (tmp_path / "new.md").write_text("# New\nzeta999 here\n", encoding="utf-8")
    assert aikb("list", vault=tmp_path).exit_code == 0
    (tmp_path / "old.md").unlink()
    found = aikb("search", "zeta", "--json", vault=tmp_path)
    fresh = aikb("--no-cache", "search", "zeta", "--json", vault=tmp_path)
    assert [hit["id"] for hit in json.loads(found.stdout)] == ["new"]
    assert found.stdout == fresh.stdout


def test_a_live_word_behind_more_stale_forms_than_are_checked_at_once(
    aikb: Runner, tmp_path: Path
) -> None:
    from aikb.index import MAX_CANDIDATES

    stale = " ".join(f"quux{n:04d}" for n in range(MAX_CANDIDATES + 100))
    (tmp_path / "Big.md").write_text(f"# Big\n{stale}\n", encoding="utf-8")
    (tmp_path / "Live.md").write_text("# Live\nnothing yet\n", encoding="utf-8")
    assert aikb("index", vault=tmp_path).exit_code == 0
    (tmp_path / "Big.md").write_text("# Big\nnothing left\n", encoding="utf-8")
    assert aikb("index", vault=tmp_path).exit_code == 0
    touch(tmp_path / "Live.md", "# Live\nquuxzzz is the word\n")
    found = aikb("search", "quux", "--json", vault=tmp_path)
    fresh = aikb("--no-cache", "search", "quux", "--json", vault=tmp_path)
    assert [hit["id"] for hit in json.loads(found.stdout)] == ["Live"]
    assert found.stdout == fresh.stdout


def test_words_no_longer_indexed_are_pruned_after_enough_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aikb.index

    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    touch(vault / "Gone.md", "# Gone\nxylophonist quarterstaff\n")
    index = Index.open(vault, tmp_path / "db.sqlite3")
    index.sync()

    def recorded(word: str) -> bool:
        return bool(index.conn.execute("SELECT 1 FROM vocab WHERE term = ?", (word,)).fetchone())

    assert recorded("xylophonist")
    monkeypatch.setattr(aikb.index, "PRUNE_AFTER", 3)
    needed = max(3, (len(scan(vault).notes) - 1) // 5)  # changed notes before a prune
    (vault / "Gone.md").unlink()
    index.sync()
    assert recorded("xylophonist")  # 1 change counted: not pruned yet
    others = sorted(path for path in vault.glob("*.md"))[: needed - 1]
    for path in others:
        touch(path, f"# {path.stem}\nEdited once.\n")
    index.sync()
    assert not recorded("xylophonist") and not recorded("quarterstaff")
    assert recorded("edited")  # a word the same update wrote stays


@pytest.mark.parametrize("cache", [[], ["--no-cache"]])
def test_chinese_and_japanese_words_inside_runs(
    aikb: Runner, tmp_path: Path, cache: list[str]
) -> None:
    # No spaces between words: any part of a run of characters must be findable.
    (tmp_path / "zh.md").write_text("# 限流\n令牌桶和漏桶都可以用来限流。\n", encoding="utf-8")
    (tmp_path / "ja.md").write_text("# メモ\nネットワークの遅延が大きい。\n", encoding="utf-8")
    (tmp_path / "ko.md").write_text("# 메모\n네트워크 지연 시간\n", encoding="utf-8")
    (tmp_path / "en.md").write_text("# Buckets\nA leaky bucket.\n", encoding="utf-8")
    for query, expected in (
        ("漏桶", "zh#限流"),
        ("桶", "zh#限流"),
        ("漏桶都可以", "zh#限流"),
        ("遅延", "ja#メモ"),
        ("ネットワーク", "ja#メモ"),
        ("지연", "ko#메모"),
        ("leaky", "en#Buckets"),
    ):
        result = aikb(*cache, "search", query, "--json", vault=tmp_path)
        hits = json.loads(result.stdout)
        assert [h["id"] for h in hits] == [expected], query
    hit = json.loads(aikb(*cache, "search", "漏桶都", "--json", vault=tmp_path).stdout)[0]
    assert "令牌桶和漏桶都可以用来限流" in hit["snippet"]
    assert aikb(*cache, "search", "漏水", vault=tmp_path).exit_code == 1


def test_text_hits_are_not_buried_by_a_name_match(aikb: Runner, tmp_path: Path) -> None:
    # The note named like the query weighs its name 10x in bm25; the section whose text
    # holds the words must still rank above names that merely look like the query.
    (tmp_path / "Big Things.md").write_text(
        "# Big Things\n## Notes\nWhat big things have in common.\n", encoding="utf-8"
    )
    (tmp_path / "Tools.md").write_text("# Tools\n## Bing thinkers\nA list.\n", encoding="utf-8")
    hits = json.loads(aikb("search", "big things", "--json", vault=tmp_path).stdout)
    assert [h["id"] for h in hits][:2] == ["Big Things", "Big Things#Notes"]


def test_note_whose_text_sits_under_its_title_heading_has_a_snippet(
    aikb: Runner, tmp_path: Path
) -> None:
    # Many real notes start with "# Title" on line 1 and no front matter.
    (tmp_path / "Foo.md").write_text("# Foo\n\nbar baz qux.\n", encoding="utf-8")
    hits = json.loads(aikb("search", "bar", "--json", vault=tmp_path).stdout)
    assert [(h["id"], h["snippet"]) for h in hits] == [("Foo", "bar baz qux.")]


def test_snippet_highlights_cjk_pairs_inside_runs() -> None:
    text, spans = snippet("令牌桶和漏桶都可以用来限流。", set(stems("漏桶都")))
    assert [text[a:b] for a, b in spans] == ["漏桶都"]


def test_completion_does_not_scan_files(tmp_path: Path, isolated_env: Path) -> None:
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    env = {
        **os.environ,
        "_AIKB_COMPLETE": "complete_bash",
        "COMP_WORDS": f"aikb --vault {vault} show Temp",
        "COMP_CWORD": "4",
    }
    subprocess.run(
        [sys.executable, "-m", "aikb", "--vault", str(vault), "index"],
        env={**os.environ},
        check=True,
        capture_output=True,
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "aikb"], env=env, capture_output=True, text=True, check=False
    )
    assert time.perf_counter() - start < 30
    assert "Temperature" in result.stdout.split()


def _run(vault: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aikb", "--vault", str(vault), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "damage",
    [
        "DROP TABLE links",
        "DROP TABLE fts_data",
        "UPDATE concepts SET aliases = '{bad json'",
        "DELETE FROM notes",
        "DELETE FROM concepts",
        "pages",
    ],
)
def test_damage_found_while_reading_is_repaired(tmp_path: Path, damage: str) -> None:
    """Damage SQLite only notices when it reads a page or a table: the command rebuilds
    the index and answers as if nothing happened."""
    import sqlite3

    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    expected = _run(vault, "show", "context window", "--json", env=env)
    assert expected.returncode == 0
    checked = _run(vault, "check", "--json", env=env)
    path = database_path(vault, tmp_path / "cache")
    if damage == "pages":
        with open(path, "r+b") as handle:  # scribble over pages in the middle of the file
            size = handle.seek(0, 2)
            for offset in range(size // 3, size // 3 * 2, 4096 * 3):
                handle.seek(offset)
                handle.write(os.urandom(512))
    else:
        conn = sqlite3.connect(path)
        conn.execute(damage)
        conn.commit()
        conn.close()
    for args, before in (
        (["show", "context window", "--json"], expected),
        (["check", "--json"], checked),
    ):
        result = _run(vault, *args, env=env)
        assert "Traceback" not in result.stderr
        assert (result.returncode, result.stdout) == (before.returncode, before.stdout)


def test_unicode_twin_names_are_reported_once_not_reparsed(tmp_path: Path) -> None:
    import unicodedata

    vault = tmp_path / "vault"
    vault.mkdir()
    for form, text in (("NFC", "# A\n"), ("NFD", "# B\n")):
        (vault / f"{unicodedata.normalize(form, 'Café')}.md").write_text(text, encoding="utf-8")
    path = tmp_path / "db.sqlite3"
    first = Index.open(vault, path).sync()
    assert first.parsed == 2 and [p.kind for p in first.problems] == ["duplicate note"]
    again = Index.open(vault, path)
    assert again.sync().parsed == 0
    assert [p.kind for p in again.problems()] == ["duplicate note"]


def test_index_command_finds_damage_other_commands_cannot(tmp_path: Path) -> None:
    """A scribbled page inside the full-text index is not noticed when read; ``aikb index``
    runs SQLite's integrity checks and rebuilds."""
    import sqlite3

    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    assert _run(vault, "index", env=env).returncode == 0
    path = database_path(vault, tmp_path / "cache")
    conn = sqlite3.connect(path)
    pages = (
        [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'fts_data'")]
        if conn.execute(
            "SELECT 1 FROM pragma_compile_options WHERE compile_options LIKE '%DBSTAT%'"
        ).fetchone()
        else []
    )
    conn.close()
    with open(path, "r+b") as handle:
        for page in pages[1:] or [8]:
            handle.seek((page - 1) * 4096 + 100)
            handle.write(os.urandom(2000))
    result = _run(vault, "index", env=env)
    assert result.returncode == 0
    assert "damaged" in result.stderr
    fresh = _run(vault, "search", "context window", "--json", env=env)
    assert json.loads(fresh.stdout)[0]["id"] == "Context window"


def _processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode("utf-8", "replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


PARALLEL_BUILD = pytest.mark.skipif(
    not Path("/proc/self/cmdline").exists() or (os.cpu_count() or 1) < 2,
    reason="needs Linux /proc and two cores (one worker process per core)",
)


def _parallel_build(tmp_path: Path, **options: object) -> tuple[Path, subprocess.Popen[str]]:
    """``aikb index`` started on a new 3,000-note vault, once its worker processes run."""
    vault = tmp_path / "parallel-build-vault"
    vault.mkdir()
    paragraph = "Words about context windows and [[other]] notes, again and again. " * 40
    for number in range(3000):
        (vault / f"n{number}.md").write_text(f"# N{number}\n{paragraph}\n", encoding="utf-8")
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    build: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "aikb", "--vault", str(vault), "index"],
        env=env,
        stdout=subprocess.DEVNULL,
        text=True,
        **options,
    )
    deadline = time.monotonic() + 60
    while len(_processes_mentioning(str(vault))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # until the worker processes run
    assert build.poll() is None, "the build ended before its workers could be seen"
    return vault, build


def _no_process_left(vault: Path) -> bool:
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(vault)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _processes_mentioning(str(vault)) == []


@PARALLEL_BUILD
def test_workers_end_when_the_build_is_killed(tmp_path: Path) -> None:
    vault, build = _parallel_build(tmp_path, stderr=subprocess.DEVNULL)
    build.kill()  # SIGKILL: the parent cannot clean up
    build.wait()
    assert _no_process_left(vault)


def test_snippet_finds_the_word_the_index_matched_by_its_stem_prefix() -> None:
    """The index matches ``quokka`` in ``quokkafied`` (its stem starts with the query's);
    the snippet must show and highlight that word, not the text's start."""
    text = "Zorblax adapters are " + "filler words here " * 20 + "a quokkafied trick."
    shown, spans = snippet(text, set(stems("quokka")))
    assert [shown[s:e] for s, e in spans] == ["quokkafied"]
    assert shown.startswith("…")


# Markdown -> the text a snippet shows. From the Obsidian help vault, where snippets lost
# words after a `%%` in code, and kept callout types, list dashes and table pipes.
PLAIN = [
    ("Wrap text with `%%` to hide it. %%gone%% Kept.", "Wrap text with %% to hide it. Kept."),
    ("`[[2023-01-01#^37066d]]` and `` a`b ``", "[[2023-01-01#^37066d]] and a`b"),
    ("```md\nThis is an %%inline%% comment.\n```\nAfter.", "This is an %%inline%% comment. After."),
    ("~~~~\n```\ninner\n```\n~~~~\nx", "``` inner ``` x"),
    ("> [!warning]+ Title\n> - one\n> - [x] done\n1. first", "Title one done first"),
    ("| a | b |\n| --- | :-: |\n| `==x==` | _it_ |", "a · b ==x== · it"),
    ("![[pic.png#icon]] See ![[Note#Part]], [[A|label]].", "See Note › Part, label."),
    ("*em* **strong** snake_case 2 * 3 ==hi==[^1]", "em strong snake_case 2 * 3 hi"),
    ("%%a `b` c%% d `e %% f` g", "d e %% f g"),
    ("`x` \ue0000\ue001 \ue0009\ue001", "x 0 9"),  # the marks code is set aside with
    ("start `open\n~~~\nfenced walrus\n~~~\nclose` end", "start open fenced walrus close end"),
    (">  ```md\n> `[!x]` %% y\n> > q\n> ```\nz", "`[!x]` %% y > q z"),
    ("a \\`x\\` and \\`y %% b\\` %% gecko", "a `x` and `y gecko"),
    ("Visible %% open comment\nnext line", "Visible"),
    ("Span %% a `b %% c` d %% zebra", "Span c d"),
]


@pytest.mark.parametrize(("markdown", "shown"), PLAIN)
def test_plain_text_keeps_code_as_written_and_drops_markup(markdown: str, shown: str) -> None:
    from aikb.search import plain_text

    assert plain_text(markdown) == shown


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_collector_as_it_was(enabled: bool) -> None:
    import gc

    from aikb.vault import gc_paused

    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(KeyError), gc_paused():
            raise KeyError("x")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_building_makes_no_cyclic_garbage(seed_dir: Path, tmp_path: Path) -> None:
    """Builds run without the cyclic collector (see aikb.vault.gc_paused): parsing notes
    and writing their rows must leave nothing only that collector could free, or a big
    build would grow. The seed note, the bundled vault and the edge-case vaults."""
    import gc

    from aikb.build import prepare
    from aikb.vault import FileStat

    roots = [seed_dir, BUNDLED, *sorted((Path(__file__).parent / "fixtures" / "vaults").iterdir())]
    files = [(root, FileStat(p, *s)) for root in roots for p, s in scan(root).notes.items()]
    assert len(files) > 20

    def build(root: Path) -> None:
        index = Index.open(root, tmp_path / f"{len(os.listdir(tmp_path))}.sqlite3")
        index.sync(jobs=1)
        index.close()

    build(roots[0])  # modules imported (some leave cyclic garbage once), parsers built
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        for root, file in files:
            prepare(root, file)
        for root in roots:
            build(root)
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()


def test_a_build_runs_without_the_cyclic_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import aikb.build

    seen: list[bool] = []
    real = aikb.build.prepare

    def watching(root: Path, file: object) -> object:
        seen.append(gc.isenabled())
        return real(root, file)  # type: ignore[arg-type]

    monkeypatch.setattr(aikb.build, "prepare", watching)
    vault = _linked_vault(tmp_path / "vault")
    assert gc.isenabled()
    Index.open(vault, None).sync(jobs=1)
    assert seen and not any(seen)
    assert gc.isenabled()


def _fifo_or_folder(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("suffix", ["", "-wal"])
@pytest.mark.parametrize("args", [["show", "inference", "--json"], ["index", "--rebuild"]])
def test_something_other_than_a_file_at_the_index_path_falls_back_to_memory(
    seed_dir: Path, tmp_path: Path, kind: str, suffix: str, args: list[str]
) -> None:
    """SQLite would wait forever opening a FIFO, and cannot delete a folder."""
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    path = database_path(seed_dir, tmp_path / "cache")
    _fifo_or_folder(Path(str(path) + suffix), kind)
    result = _run(seed_dir, *args, env=env)  # a hang fails on the timeout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("aikb: ") and "in-memory index" in line for line in lines)
    if args[0] == "show":
        assert result.returncode == 0 and len(lines) == 1
        assert json.loads(result.stdout)["title"] == "Inference (Model Inference)"
    else:
        assert result.returncode == 2  # the index could not be saved, as the README says


def test_a_database_that_cannot_be_deleted_is_reported_not_raised(tmp_path: Path) -> None:
    from aikb.index import CacheUnavailable, remove_database

    path = tmp_path / "index.sqlite3"
    path.write_bytes(b"old")
    Path(str(path) + "-shm").mkdir()
    with pytest.raises(CacheUnavailable, match=r"cannot delete index file .*-shm"):
        remove_database(path)
    assert not path.exists()  # what could go went
    remove_database(tmp_path / "never-there.sqlite3")  # nothing to delete is fine


@PARALLEL_BUILD
def test_ctrl_c_during_a_parallel_build_ends_quietly(tmp_path: Path) -> None:
    """The terminal sends SIGINT to every process of the command, workers included."""
    import signal

    # Its own process group, as a terminal's foreground job.
    vault, build = _parallel_build(tmp_path, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(0.3)  # the workers are parsing
    os.killpg(build.pid, signal.SIGINT)
    _, stderr = build.communicate(timeout=30)
    assert build.returncode == 130
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert _no_process_left(vault)


def test_a_listing_digest_depends_on_its_values_only(tmp_path: Path) -> None:
    """Equal listings have equal digests, however their objects are shared (a listing sent
    back by the background child is a copy; the notes to parse hold references)."""
    import pickle

    from aikb.index import _digest

    listing = scan(_listing_vault(tmp_path / "vault"))
    copy = pickle.loads(pickle.dumps(listing))
    held = [(path, *stamp) for path, stamp in copy.notes.items()]  # more references
    assert held and copy == listing
    assert _digest(copy) == _digest(listing) == _digest(scan(tmp_path / "vault"))
    changed = dict(listing.notes)
    changed["f0/g0/n0.md"] = (changed["f0/g0/n0.md"][0] + 1, changed["f0/g0/n0.md"][1])
    assert _digest(listing._replace(notes=changed)) != _digest(listing)


def _edited_after_indexing(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the bundled vault indexed by ``aikb index``, then one note edited; and
    the environment that finds its index."""
    vault = tmp_path / "vault"
    shutil.copytree(BUNDLED, vault)
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    assert _run(vault, "index", env=env).returncode == 0
    touch(vault / "Tokens.md", "# Tokens\nEdited, see [[Temperature]].\n")
    return vault, env


def test_the_command_after_an_edit_finds_the_index_up_to_date(tmp_path: Path) -> None:
    vault, env = _edited_after_indexing(tmp_path)
    assert _run(vault, "show", "tokens", env=env).returncode == 0  # updates the index
    path = database_path(vault, tmp_path / "cache")
    listing, changes = survey(vault, path)
    assert listing is None and changes is not None and changes.todo is None
    result = _run(vault, "index", env=env)
    assert result.stderr.startswith("aikb: index up to date")


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="sends SIGINT to a process group")
def test_ctrl_c_while_waiting_for_the_write_lock_ends_at_once(tmp_path: Path) -> None:
    import signal
    import sqlite3

    vault, env = _edited_after_indexing(tmp_path)
    holder = sqlite3.connect(database_path(vault, tmp_path / "cache"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another aikb, updating the index
    try:
        waiter = subprocess.Popen(
            [sys.executable, "-m", "aikb", "--vault", str(vault), "show", "tokens"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert waiter.stderr is not None
        assert "waiting for it" in waiter.stderr.readline()
        os.killpg(waiter.pid, signal.SIGINT)
        start = time.monotonic()
        waiter.wait(timeout=30)
        assert time.monotonic() - start < 5 and waiter.returncode == 130
        assert "Traceback" not in waiter.stderr.read()
    finally:
        holder.rollback()
        holder.close()


def _report_sigint_blocked(pipe: object) -> None:
    import signal

    pipe.send(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_sigmask"), reason="POSIX")
def test_parse_workers_start_with_ctrl_c_held_back() -> None:
    """A worker interrupted before it sets SIGINT aside printed its own traceback."""
    import multiprocessing
    import signal

    from aikb.build import _sigint_blocked

    reader, writer = multiprocessing.Pipe(duplex=False)
    with _sigint_blocked():
        process = multiprocessing.Process(target=_report_sigint_blocked, args=(writer,))
        process.start()
    assert reader.recv() is True
    process.join()
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # restored here


@pytest.mark.parametrize("names", [("Note.md", "Note.MD"), ("Café.md", "Cafe\u0301.md")])
def test_twin_files_of_one_note_id_keep_the_same_one_whatever_came_first(
    aikb: Runner, tmp_path: Path, names: tuple[str, str]
) -> None:
    """Two files with one note id: the path sorted first is the note, as in a fresh
    build, whichever file the index met first."""
    import unicodedata

    first, second = names
    (tmp_path / first).write_text("# First\n", encoding="utf-8")
    assert aikb("index", vault=tmp_path).exit_code == 0
    (tmp_path / second).write_text("# Second\n", encoding="utf-8")
    for _ in range(2):  # the update that meets the twin, then one that changes nothing
        cached = aikb("list", "--json", vault=tmp_path)
        fresh = aikb("--no-cache", "list", "--json", vault=tmp_path)
        assert cached.stdout == fresh.stdout
        assert json.loads(cached.stdout)[0]["note"] == min(first, second)
        checked = aikb("check", "--json", vault=tmp_path).stdout
        assert checked == aikb("--no-cache", "check", "--json", vault=tmp_path).stdout
        assert "duplicate note" in checked and max(first, second) in checked
        same_name = unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", second)
        assert ("the same name in another Unicode form" in checked) == same_name
