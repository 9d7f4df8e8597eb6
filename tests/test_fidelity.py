"""Obsidian fidelity cases that need a small vault of their own."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from .conftest import Runner


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_c_cpp_and_csharp_are_three_exact_names(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "C.md": "The C language.\n",
            "C++.md": "C with classes.\n",
            "C#.md": "A .NET language, not C.\n",
            "Cython.md": "C and Python.\n",
        },
    )
    for query, expected in (("C", "C"), ("c++", "C++"), ("C#", "C#")):
        hits = json.loads(aikb("search", query, "--json", vault=tmp_path).stdout)
        assert hits[0]["id"] == expected, (query, hits)
        assert hits[0]["score"] == 100
        assert json.loads(aikb("show", query, "--json", vault=tmp_path).stdout)["id"] == expected


def test_exact_alias_ranks_above_fuzzy_and_text(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "Attention.md": "---\naliases: [Внимание]\n---\nSelf attention.\n",
            "Attention is all you need.md": "Attention attention attention.\n",
        },
    )
    hits = json.loads(aikb("search", "attention", "--json", vault=tmp_path).stdout)
    assert [h["id"] for h in hits][:2] == ["Attention", "Attention is all you need"]
    hits = json.loads(aikb("search", "внимание", "--json", vault=tmp_path).stdout)
    assert hits[0] == {**hits[0], "id": "Attention", "matched": "alias", "score": 100}


def test_nfd_names_and_headings_match_nfc(aikb: Runner, tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Résumé")
    write(
        tmp_path,
        {
            f"{nfd}.md": f"## {unicodedata.normalize('NFD', 'Crème brûlée')}\ntext\n",
            "Links.md": "[[résumé#crème brûlée]] [[Résumé]]\n",
        },
    )
    links = json.loads(aikb("show", "Links", "--json", vault=tmp_path).stdout)["links"]
    assert [link["resolved"] for link in links] == ["Résumé#Crème brûlée", "Résumé"]
    assert json.loads(aikb("show", "résumé", "--json", vault=tmp_path).stdout)["id"] == "Résumé"


def test_invalid_tags_yaml_warns_with_file_and_line(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "tagged.md": "---\ntitle: ok\ntags: [#a, #b]\n---\nBody [[Other]] #inline\n",
            "Other.md": "x\n",
        },
    )
    result = aikb("list", "--tag", "inline", "--json", vault=tmp_path)
    assert result.exit_code == 0
    assert [row["id"] for row in json.loads(result.stdout)] == ["tagged"]
    warnings = [line for line in result.stderr.splitlines() if "tagged.md" in line]
    assert len(warnings) == 1 and warnings[0].startswith("aikb: warning: tagged.md:")
    other = json.loads(aikb("show", "Other", "--json", vault=tmp_path).stdout)
    assert [b["source"] for b in other["backlinks"]] == ["tagged"]


def test_nested_tags_and_case(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path, {"a.md": "#AI/LLM text\n", "b.md": "---\ntags: [ai]\n---\n", "c.md": "#aimless\n"}
    )
    ids = [
        r["id"] for r in json.loads(aikb("list", "--tag", "ai", "--json", vault=tmp_path).stdout)
    ]
    assert ids == ["a", "b"]
    ids = [
        r["id"]
        for r in json.loads(aikb("list", "--tag", "#Ai/llm", "--json", vault=tmp_path).stdout)
    ]
    assert ids == ["a"]


def test_property_links_are_links(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.md": '---\nrelated: "[[b]]"\nup: ["[[c#Part]]"]\n---\ntext\n',
            "b.md": "b\n",
            "c.md": "# Part\n",
        },
    )
    links = json.loads(aikb("show", "a", "--json", vault=tmp_path).stdout)["links"]
    assert [(link["resolved"], link["line"]) for link in links] == [("b", 2), ("c#Part", 3)]


def test_same_name_prefers_the_linking_notes_folder(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "x/index.md": "x\n",
            "y/index.md": "y\n",
            "y/from y.md": "[[index]]\n",
            "deep/er/index.md": "z\n",
            "top.md": "[[index]]\n",
        },
    )
    from_y = json.loads(aikb("show", "from y", "--json", vault=tmp_path).stdout)["links"]
    assert from_y[0]["resolved"] == "y/index"
    top = json.loads(aikb("show", "top", "--json", vault=tmp_path).stdout)["links"]
    assert top[0]["resolved"] == "x/index"  # same depth and length as y/index: alphabetical


def test_exact_case_wins_among_names_differing_in_case(aikb: Runner, tmp_path: Path) -> None:
    write(
        tmp_path,
        {"Note.md": "upper\n", "note.md": "lower\n", "a.md": "[[note]] [[Note]] [[NOTE]]\n"},
    )
    links = json.loads(aikb("show", "a", "--json", vault=tmp_path).stdout)["links"]
    assert [link["resolved"] for link in links] == ["note", "Note", "Note"]
