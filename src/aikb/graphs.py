"""``aikb graph``: the concept graph around a concept (or of the whole vault), and its
export as JSON, Graphviz DOT and Mermaid.

Nodes are concepts (notes and sections) plus one node per unresolved link target, so
broken links stay visible. Edges are ``link`` and ``embed`` (from the concept holding the
link to the one it reaches) and ``section`` (from a note or section to its subsection).
External links are not part of the graph.
"""

from __future__ import annotations

import json
from collections import deque
from typing import NamedTuple

from aikb.index import Index
from aikb.model import Concept, ResolvedLink
from aikb.normalize import sanitize

UNRESOLVED = "unresolved"


class Node(NamedTuple):
    """A graph node: concept id (or ``unresolved:TARGET``), title, and kind (``note``,
    ``H1``..``H6`` or ``unresolved``)."""

    id: str
    title: str
    kind: str


class Edge(NamedTuple):
    """A directed edge: source id, target id, kind (``link``, ``embed`` or ``section``)."""

    source: str
    target: str
    kind: str


class Graph(NamedTuple):
    """Nodes in discovery order and edges without duplicates; ``root`` is the concept the
    graph was grown from (None for the whole vault)."""

    nodes: list[Node]
    edges: list[Edge]
    root: str | None = None


def _node(concept: Concept) -> Node:
    return Node(concept.id, concept.title, concept.kind)


def _target(item: ResolvedLink) -> Node | None:
    """The node a link points to: None for external links and existing attachments."""
    if item.link.kind == "external" or item.attachment:
        return None
    if item.resolved is None:
        return Node(f"{UNRESOLVED}:{item.link.text}", item.link.text, UNRESOLVED)
    return None


def local_graph(index: Index, concept: Concept, depth: int = 1) -> Graph:
    """The concepts within ``depth`` steps of ``concept`` (breadth first), following
    outgoing links, backlinks, the parent section and child sections.

    Links written in a concept's subsections, and links into them, count as the
    concept's own when walking (the subsection is a further step, through its section
    edge), so every node is joined to the root within ``depth`` steps; an edge is drawn
    between the link's own source and target when both are in the graph. Unresolved
    targets are leaves.
    ``depth`` < 1 gives the concept alone.
    """
    nodes: dict[str, Node] = {concept.id: _node(concept)}
    edges: dict[Edge, None] = {}
    exact: dict[Edge, Edge] = {}  # an aggregated edge -> the link's own ends
    queue: deque[tuple[Concept, int]] = deque([(concept, 0)])
    while queue:
        current, distance = queue.popleft()
        if distance >= depth:
            continue
        neighbours: list[Concept] = []
        for item in index.links_from(current):
            kind = "embed" if item.link.kind == "embed" else "link"
            if item.resolved:
                target = index.concept(item.resolved)
                if target is not None and target.id != current.id:
                    edge = Edge(current.id, target.id, kind)
                    edges[edge] = None
                    exact.setdefault(edge, Edge(item.source, target.id, kind))
                    neighbours.append(target)
            else:
                leaf = _target(item)
                if leaf is not None:
                    nodes.setdefault(leaf.id, leaf)
                    edges[Edge(current.id, leaf.id, kind)] = None
        for backlink in index.backlinks(current):
            # A link into one of this concept's subsections counts as a link to it: the
            # subsection itself is one more step away, through a section edge.
            source = index.concept(backlink.source)
            if source is not None:
                edge = Edge(source.id, current.id, "link")
                edges[edge] = None
                exact.setdefault(edge, Edge(source.id, backlink.target or current.id, "link"))
                neighbours.append(source)
        if current.parent:
            parent = index.concept(current.parent)
            if parent is not None:
                edges[Edge(parent.id, current.id, "section")] = None
                neighbours.append(parent)
        for child in index.children(current):
            edges[Edge(current.id, child.id, "section")] = None
            neighbours.append(child)
        for neighbour in neighbours:
            if neighbour.id not in nodes:
                nodes[neighbour.id] = _node(neighbour)
                queue.append((neighbour, distance + 1))
    # Draw a link between the concepts that hold and receive it when both are shown (a
    # link from a subsection starts at the subsection), else between the aggregates.
    kept: dict[Edge, None] = {}
    for edge in edges:
        own = exact.get(edge, edge)
        if own.source in nodes and own.target in nodes and own.source != own.target:
            kept[own] = None
        elif edge.source in nodes and edge.target in nodes:
            kept[edge] = None
    return Graph(list(nodes.values()), list(kept), concept.id)


def vault_graph(index: Index) -> Graph:
    """Every concept, every link between concepts (and to unresolved targets), and every
    section edge."""
    concepts = index.concepts()
    nodes: dict[str, Node] = {c.id: _node(c) for c in concepts}
    edges: dict[Edge, None] = {}
    for concept in concepts:
        if concept.parent:
            edges[Edge(concept.parent, concept.id, "section")] = None
    for item in index.all_links():
        kind = "embed" if item.link.kind == "embed" else "link"
        if item.resolved:
            if item.resolved != item.source:
                edges[Edge(item.source, item.resolved, kind)] = None
            continue
        leaf = _target(item)
        if leaf is not None:
            nodes.setdefault(leaf.id, leaf)
            edges[Edge(item.source, leaf.id, kind)] = None
    return Graph(list(nodes.values()), list(edges))


# -- formats ----------------------------------------------------------------------------


def to_json(graph: Graph) -> dict[str, object]:
    """The documented ``graph --format json`` object: ``{"root", "nodes": [{id, title,
    kind}], "edges": [{source, target, kind}]}``."""
    return {
        "root": graph.root,
        "nodes": [{"id": n.id, "title": n.title, "kind": n.kind} for n in graph.nodes],
        "edges": [{"source": e.source, "target": e.target, "kind": e.kind} for e in graph.edges],
    }


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks as spaces,
    control characters made visible (see :func:`aikb.normalize.sanitize`)."""
    cleaned = " ".join(sanitize(text).split())
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    """Graphviz DOT: notes as boxes, sections as rounded boxes, unresolved targets dashed
    red; ``section`` edges dotted, ``embed`` edges bold."""
    lines = ["digraph aikb {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in graph.nodes:
        if node.kind == UNRESOLVED:
            style = 'shape=box, style="dashed", color="red", fontcolor="red"'
        elif node.kind == "note":
            style = 'shape=box, style="filled", fillcolor="lightyellow"'
        else:
            style = 'shape=box, style="rounded"'
        if node.id == graph.root:
            style += ", penwidth=2"
        lines.append(f"  {_dot_string(node.id)} [label={_dot_string(node.title)}, {style}];")
    edge_styles = {"section": ' [style="dotted", arrowhead="none"]', "embed": ' [style="bold"]'}
    for edge in graph.edges:
        attributes = edge_styles.get(edge.kind, "")
        lines.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)}{attributes};")
    lines.append("}")
    return "\n".join(lines)


def _mermaid_label(text: str) -> str:
    """Mermaid node text in double quotes: quotes and the characters Mermaid reads as markup
    become HTML entity codes (``#quot;``), line breaks become spaces."""
    cleaned = " ".join(sanitize(text).split())
    for char, code in (
        ("&", "#amp;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("[", "#91;"),
        ("]", "#93;"),
        ("`", "#96;"),
        ("|", "#124;"),
    ):
        cleaned = cleaned.replace(char, code)
    return f'"{cleaned}"'


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart in a fenced block, ready to paste into an Obsidian note.

    Node ids are generated (``n0``, ``n1``...) so any title is safe; unresolved targets
    use a red dashed class; ``section`` edges are dotted lines.
    """
    ids = {node.id: f"n{number}" for number, node in enumerate(graph.nodes)}
    lines = ["```mermaid", "flowchart LR"]
    for node in graph.nodes:
        shape = ("[", "]") if node.kind != "note" else ("[[", "]]")
        suffix = ":::unresolved" if node.kind == UNRESOLVED else ""
        lines.append(f"  {ids[node.id]}{shape[0]}{_mermaid_label(node.title)}{shape[1]}{suffix}")
    for edge in graph.edges:
        arrow = {"section": "-.-", "embed": "==>"}.get(edge.kind, "-->")
        lines.append(f"  {ids[edge.source]} {arrow} {ids[edge.target]}")
    if any(node.kind == UNRESOLVED for node in graph.nodes):
        lines.append("  classDef unresolved stroke:#d33,stroke-dasharray:4 3,color:#d33")
    lines.append("```")
    return "\n".join(lines)


def json_text(graph: Graph) -> str:
    """:func:`to_json` as indented UTF-8 JSON text."""
    return json.dumps(to_json(graph), ensure_ascii=False, indent=2)
