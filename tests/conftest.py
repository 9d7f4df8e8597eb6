"""Shared fixtures: an isolated environment, the seed note, the bundled vault, a CLI runner."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aikb.cli import app

HERE = Path(__file__).parent
REPO = HERE.parent
SEED_DIR = REPO.parent / "shared" / "vaults" / "seed"
SEED = SEED_DIR / "AI-flow.md"
BUNDLED = REPO / "notes"
FIXTURES = HERE / "fixtures"
VAULTS = FIXTURES / "vaults"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache dir and no user config or vault from the environment."""
    home = tmp_path_factory.mktemp("home")
    (home / "config.toml").write_text("# no vault set\n", encoding="utf-8")
    monkeypatch.setenv("AIKB_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("AIKB_CONFIG", str(home / "config.toml"))
    monkeypatch.delenv("AIKB_VAULT", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    return home


@pytest.fixture(scope="session")
def seed_dir() -> Path:
    """The user's real note, from ../shared (CI has it there; its absence is a failure)."""
    assert SEED.is_file(), f"the seed note is missing: {SEED}"
    return SEED_DIR


Runner = Callable[..., Result]


@pytest.fixture
def aikb() -> Runner:
    """Run the CLI in-process: ``aikb("show", "x", vault=path)`` gives a click Result
    with separate ``stdout`` and ``stderr``."""
    runner = CliRunner()

    def run(*args: str, vault: Path | None = None, env: dict[str, str] | None = None) -> Result:
        argv = (["--vault", str(vault)] if vault is not None else []) + list(args)
        return runner.invoke(app, argv, env=env, catch_exceptions=False)

    return run


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> sha256 of every file under ``root`` (to prove a vault was not written)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def copy_vault(source: Path, target: Path) -> Path:
    """Copy a fixture vault into a temporary folder the test may change."""
    shutil.copytree(source, target)
    return target
