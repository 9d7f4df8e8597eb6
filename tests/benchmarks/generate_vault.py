"""Write a synthetic Obsidian-style vault of AI notes, deterministically, for benchmarks.

Every note is about 3 KB of mixed English and Russian text built from the fixed word
lists below with :class:`random.Random` (no external data), so 10,000 notes are about
30 MB. Notes are spread over 50 nested folders (up to 3 levels deep) plus the vault root
and carry what a real vault has:

* YAML front matter with ``aliases`` (1-3 names, some Russian), ``tags`` and ``created``;
* 2-5 ``##``/``###`` headings, some in the style ``## Context window, Контекстное окно
  (flow)``, and sometimes a ``#`` title;
* paragraphs (some ending with a ``^blockid``), bullet, numbered and task lists, block
  quotes, sometimes a table and sometimes a fenced code block holding ``[[not a link]]``;
* bare URLs, and links of every form to other generated notes: ``[[Note]]``,
  ``[[Note|label]]``, ``[[Note#Heading]]``, ``[[#Local heading]]``, ``[[Note#^blockid]]``,
  ``![[Note#Heading]]``, ``[[folder/Note]]``, ``[[Note\\|label]]`` inside tables, and
  Markdown links such as ``[x](Some%20Note.md)``; about 2% of the links name notes that
  do not exist.

Link targets are drawn uniformly, so a note has about as many backlinks in a vault of 100
notes as in one of 100,000, which keeps ``show`` comparable across sizes. Note ``i``'s
name, folder, aliases, headings and block ids depend only on ``(seed, i)``; its text also
depends on the vault size (the link targets). Same arguments, same bytes.

Usage::

    python tests/benchmarks/generate_vault.py OUT_DIR --notes 10000 [--seed 42]
"""

from __future__ import annotations

import argparse
import posixpath
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

#: Bytes of UTF-8 text each note aims for (front matter included).
TARGET_BYTES = 2750

#: Share of links that name a note that does not exist.
MISSING_LINK_RATE = 0.02

# -- word lists ---------------------------------------------------------------------------

# fmt: off
ADJECTIVES = (
    "sparse", "dense", "causal", "masked", "contrastive", "recurrent", "convolutional",
    "latent", "adaptive", "quantized", "distilled", "multimodal", "autoregressive",
    "generative", "residual", "stochastic", "hierarchical", "federated", "low-rank",
    "mixed-precision", "zero-shot", "few-shot", "self-supervised", "speculative", "grouped",
    "rotary", "linear", "local", "global", "bidirectional", "variational", "probabilistic",
    "synthetic", "robust", "efficient", "streaming", "parallel", "sliding", "cross-lingual",
    "structured", "chain-of-thought", "instruction-tuned", "retrieval-augmented", "gated",
    "normalized", "positional", "discrete", "continuous", "greedy", "nested",
)

NOUNS = (
    "attention", "embedding", "tokenizer", "transformer", "decoder", "encoder", "gradient",
    "optimizer", "scheduler", "loss", "benchmark", "dataset", "context window", "inference",
    "sampling", "temperature", "beam search", "prompt", "adapter", "checkpoint",
    "layer norm", "activation", "dropout", "batch", "pipeline", "agent", "reward model",
    "policy", "memory", "cache", "router", "mixture of experts", "attention head", "kernel",
    "projection", "vocabulary", "perplexity", "alignment", "evaluation", "distillation",
    "quantization", "pruning", "retrieval", "vector index", "reranker", "diffusion",
    "autoencoder", "classifier", "language model", "fine-tuning",
)

#: English concept names and their Russian counterparts, for bilingual headings/aliases.
TERM_PAIRS = (
    ("Context window", "Контекстное окно"),
    ("Attention", "Внимание"),
    ("Embedding", "Эмбеддинг"),
    ("Fine-tuning", "Дообучение"),
    ("Tokenizer", "Токенизатор"),
    ("Gradient descent", "Градиентный спуск"),
    ("Loss function", "Функция потерь"),
    ("Temperature", "Температура"),
    ("Inference", "Инференс"),
    ("Neural network", "Нейронная сеть"),
    ("Training data", "Обучающие данные"),
    ("Learning rate", "Скорость обучения"),
    ("Overfitting", "Переобучение"),
    ("Regularization", "Регуляризация"),
    ("Hallucination", "Галлюцинация"),
    ("Reasoning", "Рассуждение"),
    ("Knowledge base", "База знаний"),
    ("Language model", "Языковая модель"),
    ("Weights", "Веса"),
    ("Hidden layer", "Скрытый слой"),
    ("Sampling", "Сэмплирование"),
    ("Quantization", "Квантование"),
    ("Distillation", "Дистилляция"),
    ("Semantic search", "Семантический поиск"),
    ("System prompt", "Системный промпт"),
    ("Agent", "Агент"),
    ("Evaluation", "Оценка качества"),
    ("Dataset", "Набор данных"),
    ("Vector search", "Векторный поиск"),
    ("Long-term memory", "Долговременная память"),
    ("Output size", "Размер ответа"),
    ("Reward model", "Модель вознаграждения"),
    ("Batch size", "Размер батча"),
    ("Activation function", "Функция активации"),
    ("Mixture of experts", "Смесь экспертов"),
)

QUALIFIERS = (
    "flow", "notes", "draft", "summary", "RU", "v2", "overview",
)

GENERIC_HEADINGS = (
    "Overview", "Definition", "How it works", "Examples", "Open questions", "See also",
    "Pitfalls", "History", "Implementation notes", "References", "Обзор", "Примеры",
    "Определение", "Как это работает", "Открытые вопросы", "Ссылки", "Подводные камни",
)

EN_WORDS = (
    "the", "model", "uses", "a", "of", "to", "and", "in", "with", "which", "is", "when",
    "for", "data", "training", "each", "token", "layer", "output", "input", "more", "less",
    "better", "faster", "this", "that", "can", "be", "we", "it", "on", "by", "from",
    "value", "step", "results", "example", "paper", "method", "approach", "compute", "cost",
    "memory", "sequence", "length", "vector", "matrix", "weights", "parameters", "scale",
    "large", "small", "window", "context", "query", "key", "softmax", "probability",
    "distribution", "gradient", "update", "loss", "accuracy", "benchmark", "task", "prompt",
    "answer", "reasoning", "latency", "throughput", "hardware", "GPU", "cluster", "batch",
    "noise", "signal", "error", "baseline", "improves", "reduces", "depends", "requires",
    "usually", "often", "rarely", "however", "because", "therefore", "roughly", "exactly",
)

RU_WORDS = (
    "модель", "данные", "обучение", "слой", "токен", "контекст", "внимание", "вектор",
    "запрос", "ответ", "который", "это", "для", "при", "как", "что", "можно", "нужно",
    "всегда", "если", "когда", "очень", "быстро", "медленно", "результат", "пример",
    "метод", "память", "окно", "размер", "сеть", "вес", "значение", "шаг", "задача",
    "текст", "слово", "длина", "обычно", "часто", "редко", "однако", "потому", "поэтому",
    "примерно", "точно", "скорость", "качество", "ошибка", "шум", "градиент", "функция",
    "потерь", "выборка", "параметры", "матрица", "последовательность", "вероятность",
    "распределение", "оценка", "эксперимент", "статья", "подход", "вычисления", "стоимость",
    "кластер", "видеокарта", "задержка", "пропускная", "способность", "рассуждение",
    "агент", "инструмент", "поиск", "индекс", "эмбеддинг", "промпт", "температура",
    "обучающий", "тестовый", "большой", "маленький", "новый", "старый", "лучше", "хуже",
    "зависит",
)

TAGS = (
    "ai", "llm", "ml/attention", "ml/training", "ml/inference", "nlp", "cv", "rl", "math",
    "infra/gpu", "paper", "todo", "обучение", "ai/agents", "data", "eval",
)

BLOCK_PREFIXES = ("def", "ex", "ref", "note", "claim", "q", "fig", "key")

LANGUAGES = ("python", "bash", "text", "json")
# fmt: on

#: The folder tree: 10 top-level folders, 22 second-level and 18 third-level (50 in all).
FOLDER_TREE: dict[str, dict[str, tuple[str, ...]]] = {
    "Models": {
        "Transformers": ("Attention", "Positional encoding"),
        "Diffusion": ("Schedulers",),
        "Recurrent": (),
    },
    "Training": {
        "Optimizers": ("Adam family",),
        "Fine-tuning": ("LoRA", "RLHF"),
        "Data pipelines": (),
    },
    "Inference": {
        "Sampling": ("Decoding strategies",),
        "Serving": ("Batching",),
        "Quantization": (),
    },
    "Data": {"Datasets": ("Multilingual", "Synthetic"), "Tokenization": ()},
    "Evaluation": {"Benchmarks": ("Reasoning",), "Metrics": ()},
    "Agents": {"Tools": (), "Memory": ("Long-term",)},
    "Papers": {"2023": (), "2024": ("Surveys",), "2025": ()},
    "Math": {"Linear algebra": (), "Probability": ("Bayesian methods",)},
    "Infra": {"GPU": ("CUDA kernels",), "Clusters": ()},
    "Черновики": {"Идеи": ("Вопросы",), "Конспекты": ()},
}


def folders() -> list[str]:
    """Every folder of the generated vault, as vault-relative POSIX paths, parents first."""
    found: list[str] = []
    for top, subs in FOLDER_TREE.items():
        found.append(top)
        for sub, leaves in subs.items():
            found.append(f"{top}/{sub}")
            found.extend(f"{top}/{sub}/{leaf}" for leaf in leaves)
    return found


FOLDERS = folders()
#: Where notes go: every folder, plus the vault root ("") listed twice so it gets a share.
PLACES = ("", "", *FOLDERS)

# -- the plan: what every note is called and which targets it offers -----------------------


@dataclass(frozen=True, slots=True)
class NotePlan:
    """What other notes may link to in one note: its name, folder, headings and block ids."""

    name: str
    folder: str
    aliases: tuple[str, ...]
    headings: tuple[tuple[int, str], ...]
    blocks: tuple[str, ...]

    @property
    def path(self) -> str:
        """The vault-relative path of the note's file."""
        return posixpath.join(self.folder, self.name + ".md")

    @property
    def link_path(self) -> str:
        """The note's path without ``.md``, as written in ``[[folder/Note]]``."""
        return posixpath.join(self.folder, self.name)


def concept_name(index: int, seed: int = 42) -> str:
    """The name (file name without ``.md``) of note number ``index``; unique per index."""
    return _name(random.Random(_note_seed(seed, index)), index)


def _note_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def _name(rng: random.Random, index: int) -> str:
    adjective = rng.choice(ADJECTIVES)
    noun = rng.choice(NOUNS)
    return f"{adjective.capitalize()} {noun} {index + 1:04d}"


def plan_note(index: int, seed: int = 42) -> NotePlan:
    """Draw note ``index``'s name, folder, aliases, headings and block ids."""
    rng = random.Random(_note_seed(seed, index))
    name = _name(rng, index)
    number = name.rsplit(" ", 1)[1]
    folder = rng.choice(PLACES)
    english, russian = rng.choice(TERM_PAIRS)
    alias_pool = [
        f"{russian} {number}",
        "".join(word[0] for word in name.split()[:-1]).upper() + f"-{number}",
        f"{english} ({rng.choice(ADJECTIVES)})",
        f"{rng.choice(TERM_PAIRS)[1]} {rng.choice(RU_WORDS)}",
    ]
    aliases = tuple(rng.sample(alias_pool, rng.randint(1, 3)))
    headings: list[tuple[int, str]] = []
    seen: set[str] = set()
    for position in range(rng.randint(2, 5)):
        level = 3 if position and rng.random() < 0.35 else 2
        text = _heading_text(rng)
        while text.lower() in seen:
            text = f"{text} {len(seen) + 1}"
        seen.add(text.lower())
        headings.append((level, text))
    blocks = tuple(
        f"{rng.choice(BLOCK_PREFIXES)}-{rng.randrange(16**4):04x}" for _ in range(rng.randint(1, 2))
    )
    return NotePlan(name, folder, aliases, tuple(headings), blocks)


def _heading_text(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.3:
        english, russian = rng.choice(TERM_PAIRS)
        return f"{english}, {russian} ({rng.choice(QUALIFIERS)})"
    if style < 0.6:
        return f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS)}"
    if style < 0.75:
        return rng.choice(TERM_PAIRS)[1]
    return rng.choice(GENERIC_HEADINGS)


# -- writing one note -------------------------------------------------------------------------


class NoteWriter:
    """Builds the text of one note from its plan and the plans of every note it may link to."""

    def __init__(self, plans: Sequence[NotePlan], index: int, seed: int) -> None:
        self.plans = plans
        self.plan = plans[index]
        self.index = index
        self.rng = random.Random(_note_seed(seed, index) ^ 0x5EED)
        self.parts: list[str] = []
        self.size = 0
        self.pending_blocks = list(self.plan.blocks)

    # -- output

    def emit(self, text: str) -> None:
        """Append a chunk (one or more whole lines, newline included)."""
        self.parts.append(text)
        self.size += len(text.encode("utf-8"))

    def text(self) -> str:
        """Build and return the whole note."""
        self.front_matter()
        if self.rng.random() < 0.3:
            self.emit(f"# {self.plan.name}\n\n")
        self.paragraph()
        headings = self.plan.headings
        for number, (level, heading) in enumerate(headings, start=1):
            self.emit(f"{'#' * level} {heading}\n\n")
            self.paragraph()
            goal = TARGET_BYTES * number // len(headings)
            while self.size < goal:
                self.block()
        return "".join(self.parts)

    def front_matter(self) -> None:
        """YAML front matter: aliases, tags and the creation date."""
        rng = self.rng
        lines = ["---", "aliases:"]
        lines.extend(f"  - {_yaml_string(alias)}" for alias in self.plan.aliases)
        lines.append("tags:")
        lines.extend(f"  - {tag}" for tag in rng.sample(TAGS, rng.randint(1, 4)))
        created = date(2019, 1, 1) + timedelta(days=rng.randrange(7 * 365))
        lines.append(f"created: {created.isoformat()}")
        lines.append("---\n\n")
        self.emit("\n".join(lines))

    # -- blocks

    def block(self) -> None:
        """One block of a random kind: mostly paragraphs and lists."""
        roll = self.rng.random()
        if roll < 0.5:
            self.paragraph()
        elif roll < 0.75:
            self.bullet_list()
        elif roll < 0.83:
            self.quote()
        elif roll < 0.92:
            self.table()
        else:
            self.code()

    def paragraph(self) -> None:
        """2-5 sentences with 1-3 links; planned block ids go on the first paragraphs."""
        rng = self.rng
        pieces = [self.sentence() for _ in range(rng.randint(2, 5))]
        for _ in range(rng.randint(1, 3)):
            pieces.insert(rng.randint(0, len(pieces)), self.link_phrase())
        if rng.random() < 0.15:
            pieces.append(f"See {self.url()} for details.")
        if self.pending_blocks:
            pieces.append("^" + self.pending_blocks.pop(0))
        self.emit(" ".join(pieces) + "\n\n")

    def bullet_list(self) -> None:
        """A bullet, numbered or task list, sometimes nested, every item with a link."""
        rng = self.rng
        style = rng.choice(("- ", "- ", "1. ", "- [ ] "))
        lines = []
        for number in range(1, rng.randint(3, 6)):
            marker = f"{number}. " if style == "1. " else style
            lines.append(f"{marker}{self.sentence(4, 9)} {self.link_phrase()}")
            if rng.random() < 0.2:
                lines.append(f"    - {self.sentence(3, 7)}")
        self.emit("\n".join(lines) + "\n\n")

    def quote(self) -> None:
        """A block quote or an Obsidian callout."""
        head = "> [!note]\n" if self.rng.random() < 0.5 else ""
        self.emit(f"{head}> {self.sentence()} {self.link_phrase()}\n\n")

    def table(self) -> None:
        """A small table of terms whose last column holds ``[[Note\\|label]]`` links."""
        rng = self.rng
        lines = ["| Term | Термин | Note |", "|---|---|---|"]
        for _ in range(rng.randint(2, 4)):
            english, russian = rng.choice(TERM_PAIRS)
            target = self.target()
            lines.append(f"| {english} | {russian} | [[{target.name}\\|{english.lower()}]] |")
        self.emit("\n".join(lines) + "\n\n")

    def code(self) -> None:
        """A fenced code block whose ``[[...]]`` must not count as links."""
        rng = self.rng
        language = rng.choice(LANGUAGES)
        name = self.target().name
        lines = [
            f"```{language}",
            f"# [[not a link]] and [[{name}]] are plain text here",
            f"scores = softmax(query @ key.T / {rng.randint(8, 128)})",
            f"window = {rng.choice((2048, 4096, 8192, 32768, 131072))}  # [[#Not a heading]]",
            "```",
        ]
        self.emit("\n".join(lines) + "\n\n")

    # -- inline pieces

    def sentence(self, shortest: int = 6, longest: int = 16) -> str:
        """A sentence of random words, English or Russian, sometimes mixing both."""
        rng = self.rng
        words = EN_WORDS if rng.random() < 0.5 else RU_WORDS
        chosen = rng.choices(words, k=rng.randint(shortest, longest))
        if rng.random() < 0.3:
            chosen[rng.randrange(len(chosen))] = rng.choice(NOUNS)
        chosen[0] = chosen[0].capitalize()
        return " ".join(chosen) + rng.choice((".", ".", ".", ";", "!", "?"))

    def url(self) -> str:
        """A bare external URL."""
        rng = self.rng
        kind = rng.randrange(3)
        if kind == 0:
            month = f"{rng.randint(17, 25)}{rng.randint(1, 12):02d}"
            return f"https://arxiv.org/abs/{month}.{rng.randrange(100000):05d}"
        if kind == 1:
            return f"https://github.com/example/{rng.choice(NOUNS).replace(' ', '-')}"
        return f"https://en.wikipedia.org/wiki/{rng.choice(TERM_PAIRS)[0].replace(' ', '_')}"

    def target(self) -> NotePlan:
        """Another note, uniformly (the note itself when the vault has only one)."""
        count = len(self.plans)
        if count == 1:
            return self.plan
        other = self.rng.randrange(count - 1)
        return self.plans[other if other < self.index else other + 1]

    def link_phrase(self) -> str:
        """A short phrase holding one link of a random form."""
        rng = self.rng
        if rng.random() < MISSING_LINK_RATE:
            missing = f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS)} (unwritten)"
            return f"Compare [[{missing}]]."
        target = self.target()
        kind = rng.randrange(10)
        if kind == 0:
            link = f"[[{target.name}]]"
        elif kind == 1:
            link = f"[[{target.name}|{rng.choice(target.aliases)}]]"
        elif kind == 2:
            link = f"[[{target.name}#{rng.choice(target.headings)[1]}]]"
        elif kind == 3:
            link = f"[[#{rng.choice(self.plan.headings)[1]}]]"
        elif kind == 4:
            link = f"[[{target.name}#^{rng.choice(target.blocks)}]]"
        elif kind == 5:
            return f"embed: ![[{target.name}#{rng.choice(target.headings)[1]}]]"
        elif kind == 6:
            link = f"[[{target.link_path}]]"
        elif kind == 7:
            link = f"[{rng.choice(NOUNS)}]({quote(target.name)}.md)"
        elif kind == 8:
            relative = posixpath.relpath(target.path, self.plan.folder or ".")
            heading = rng.choice(target.headings)[1]
            link = f"[{target.name.lower()}]({quote(relative)}#{quote(heading)})"
        else:
            link = f"[[{target.name}|{rng.choice(NOUNS)}]]"
        return rng.choice(("see", "cf.", "см.", "also", "как в")) + f" {link}"


def _yaml_string(value: str) -> str:
    """Quote a YAML scalar when plain style could change its meaning."""
    if any(ch in value for ch in ":#[]{},&*!|>'\"%@`") or value.startswith(("-", "?")):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


# -- the vault ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VaultStats:
    """What :func:`generate` wrote."""

    notes: int
    bytes: int
    folders: int
    seconds: float


def generate(root: Path, notes: int, seed: int = 42) -> VaultStats:
    """Write a vault of ``notes`` synthetic notes under ``root`` (created if needed).

    ``root`` must not exist or be empty, so generated vaults are never mixed with other
    files. The output depends only on ``notes`` and ``seed``.
    """
    if notes < 1:
        raise ValueError("notes must be at least 1")
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    plans = [plan_note(index, seed) for index in range(notes)]
    total = 0
    for index, plan in enumerate(plans):
        data = NoteWriter(plans, index, seed).text().encode("utf-8")
        (root / plan.path).write_bytes(data)
        total += len(data)
    return VaultStats(notes, total, len(FOLDERS), time.perf_counter() - start)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate a vault and print its size and how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder to write (must not exist or be empty)")
    parser.add_argument("--notes", type=int, default=1000, help="number of notes (default 1000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    try:
        stats = generate(args.out_dir, args.notes, args.seed)
    except (OSError, ValueError) as exc:
        print(f"generate_vault: {exc}", file=sys.stderr)
        return 2
    print(
        f"{stats.notes} notes in {stats.folders} folders, {stats.bytes:,} bytes "
        f"({stats.bytes / stats.notes:,.0f} per note), written in {stats.seconds:.2f} s "
        f"to {args.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
