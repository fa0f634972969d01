"""Regenerate the doc parts that come from code: in README.md the configuration table, the CLI
help, the bundled models and the evaluation table (from eval/results/baseline/); in docs/architecture.md the
modules by part, who imports whom and where each setting is read.

    .venv/bin/python scripts/gen_docs.py          # rewrite README.md and docs/architecture.md
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if either is stale, or a number
                                                  # in README / docs was typed by hand (CI)

What counts as typed by hand, and the dated records that keep an experiment's history:
tutor/evaluation/published.py.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import sys
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

import tutor  # noqa: F401
from tutor.bundled_models import models_table
from tutor.cli.main import build_parser
from tutor.config import PACKAGE_DIR, REPO_DIR, Settings
from tutor.evaluation.eval_report import baseline_readme_table
from tutor.evaluation.published import README, check, with_section


def config_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if name == "corpus_dir":
            default = "corpus/ (in the repository)"
        elif hasattr(default, "as_posix"):
            default = default.as_posix()
        env = f"TUTOR_{name.upper()}"
        if name == "llm_api_key":
            env += " (or OPENAI_API_KEY)"
        rows.append(f"| `{env}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


def cli_help() -> str:
    parser = build_parser()
    parts = []
    commands = [None, *parser._subparsers._group_actions[0].choices]  # type: ignore[union-attr, misc]
    for command in commands:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parser.parse_args([command, "--help"] if command else ["--help"])
        parts.append(f"$ tutor {command + ' ' if command else ''}--help\n{out.getvalue().rstrip()}")
    return "```text\n" + "\n\n".join(parts) + "\n```"


def render(text: str) -> str:
    sections = (("gen", "config", config_table()), ("gen", "cli-help", cli_help()),
                ("gen", "models", models_table()),
                ("eval", "table", baseline_readme_table()))
    for kind, name, body in sections:
        text = with_section(text, name, body, kind)
    return text


# docs/architecture.md: the package's parts. Every module of tutor/ is in exactly one part
# (named relative to `tutor.`, a subpackage by its own name, the package itself as "tutor");
# a new module fails the script until it is placed here.
ARCHITECTURE = REPO_DIR / "docs" / "architecture.md"
PARTS: dict[str, tuple[str, ...]] = {
    "store": ("store", "store.documents", "store.chunking", "store.ingest", "store.index",
              "store.index.edge", "store.index.server", "store.shipped_vectors"),
    "retrieval": ("retrieval", "retrieval.retrieve", "retrieval.models"),
    "answering": ("answering", "answering.answer", "answering.answer_check", "answering.excerpts",
                  "answering.citations", "answering.support", "answering.guard"),
    "interview": ("interview", "interview.knowledge", "interview.interviewer", "interview.session",
                  "interview.state", "interview.report", "interview.screening", "interview.grading",
                  "interview.grading_llm", "interview.grades", "interview.answer_units",
                  "interview.verdicts", "interview.cues"),
    "learner memory": ("memory", "memory.progress", "memory.progress_records", "memory.progress_db",
                       "memory.progress_transfer", "memory.review", "memory.readiness"),
    "evaluation": ("evaluation", "evaluation.gold", "evaluation.evaluate", "evaluation.eval_records",
                   "evaluation.eval_metrics", "evaluation.eval_gate", "evaluation.eval_report",
                   "evaluation.ragas_metrics", "evaluation.learners", "evaluation.support_labels",
                   "evaluation.benchmarks", "evaluation.published"),
    "app": ("app", "app.main", "app.answer", "app.interview", "app.interview_html", "app.learner",
            "app.library", "app.memory", "app.readiness", "app.review", "app.ui"),
    "CLI": ("cli", "cli.main", "cli.common", "cli.eval", "cli.interview", "cli.progress", "cli.train"),
    "LLM": ("llm", "llm.base", "llm.client", "llm.embedded", "llm.bundle"),
    "models": ("judge", "judge.model", "judge.data", "judge.flips", "judge.pairs", "judge.claims",
               "judge.fit", "reranker", "reranker.data", "reranker.fit"),
    "shared": ("tutor", "bundled_models", "config", "errors", "records", "timing", "sentences", "quoting", "prompts"),
}
# Every part reads settings and records: the picture leaves those arrows out.
EVERYWHERE = "shared"


def dotted(path: Path) -> str:
    """A module's import name: tutor.llm.base, tutor.llm (its __init__.py), tutor."""
    parts = ("tutor", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def short(module: str) -> str:
    """A module's name as PARTS and the tables write it: relative to `tutor.`."""
    return module.removeprefix("tutor.")


def part_of(modules: dict[str, Path]) -> dict[str, str]:
    """Each module's part; exits naming the modules PARTS misses (or lists but are gone)."""
    placed = {name: part for part, names in PARTS.items() for name in names}
    unplaced, gone = sorted(set(modules) - set(placed)), sorted(set(placed) - set(modules))
    if unplaced or gone:
        sys.exit("PARTS in scripts/gen_docs.py is out of date:"
                 + "".join(f"\n  {modules[m].relative_to(REPO_DIR)} is in no part: add {m!r} "
                           "to the part it belongs to" for m in unplaced)
                 + "".join(f"\n  {m!r} is listed but there is no such module: remove or rename it"
                           for m in gone))
    return placed


def summary(tree: ast.Module) -> str:
    """The first sentence of a module's docstring, fit for a table cell."""
    paragraph = (ast.get_docstring(tree) or "—").split("\n\n")[0].replace("\n", " ")
    return re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].replace("|", "\\|")


def imports(path: Path, tree: ast.Module, package: set[str]) -> set[str]:
    """The modules of `package` (import names) a module imports, at the top or in a function,
    absolute or relative."""
    module = dotted(path)
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    named = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            named += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) + 1 - node.level] if node.level else []
            source = ".".join([*base, *filter(None, [node.module])])
            named += [f"{source}.{alias.name}" for alias in node.names]
    found = set()
    for name in named:  # `from tutor.x import y`: the module x.y, or a name y in x
        while name and name not in package:
            name = name.rpartition(".")[0]
        found.add(short(name))
    return found - {"", short(module)}


def _settings_like(node: ast.expr, aliases: Collection[str]) -> bool:
    """`settings`, `self.settings`, `anything._settings`, or a name in `aliases`."""
    if isinstance(node, ast.Attribute):
        return node.attr.endswith("settings")
    return isinstance(node, ast.Name) and (node.id.endswith("settings") or node.id in aliases)


def settings_read(tree: ast.Module) -> set[str]:
    """The attributes a module reads off a settings object: `<anything>settings.NAME`, `s.NAME`
    after `s = self.settings`, and `self.NAME` in the methods of `Settings` itself."""
    aliases = {target.id for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and _settings_like(node.value, ())
               for target in node.targets if isinstance(target, ast.Name)}
    read = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _settings_like(node.value, aliases)}
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "Settings"):
        read |= {node.attr for node in ast.walk(cls)
                 if isinstance(node, ast.Attribute) and _settings_like(node.value, {"self"})}
    return read


def code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names) or "—"


def modules_by_part(modules: dict[str, Path], trees: dict[str, ast.Module]) -> str:
    tables = []
    for part, names in PARTS.items():
        rows = [f"### {part}", "", "| module | lines | what it is |", "|---|---:|---|"]
        for name in names:
            path = modules[name]
            lines = len(path.read_text(encoding="utf-8").splitlines())
            link = f"../{path.relative_to(REPO_DIR).as_posix()}"
            rows.append(f"| [`{name}`]({link}) | {lines} | {summary(trees[name])} |")
        tables.append("\n".join(rows))
    return "\n\n".join(tables)


def import_graph(imported: dict[str, set[str]], part: dict[str, str]) -> str:
    """A Mermaid picture of which part imports which, then the table module by module."""
    edges = sorted({(part[name], part[i]) for name, names in imported.items() for i in names
                    if part[i] not in (part[name], EVERYWHERE)})
    node = {p: re.sub(r"\W+", "_", p) for p in PARTS}
    graph = ["```mermaid", "graph LR", *(f'  {node[p]}["{p}"]' for p in PARTS),
             *(f"  {node[a]} --> {node[b]}" for a, b in edges), "```"]
    note = (f"An arrow is a part importing another. Arrows into {EVERYWHERE} (settings, records, "
            "errors, sentences), which the other parts use, are left out.")
    rows = ["| module | imports |", "|---|---|",
            *(f"| `{name}` | {code(sorted(imported[name]))} |"
              for names in PARTS.values() for name in names)]
    return "\n".join([*graph, "", note, "", *rows])


def settings_table(trees: dict[str, ast.Module]) -> str:
    read = {name: settings_read(tree) for name, tree in trees.items()}
    rows = ["| setting | read in |", "|---|---|"]
    for field in Settings.model_fields:
        readers = sorted(name for name, fields in read.items() if field in fields)
        rows.append(f"| `{field}` | {code(readers)} |")
    return "\n".join(rows)


def render_architecture(text: str) -> str:
    modules = {short(dotted(path)): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}
    part = part_of(modules)  # exits first, and clearly, on a module no part holds
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules.items()}
    package = {dotted(path) for path in modules.values()}
    imported = {name: imports(modules[name], tree, package) for name, tree in trees.items()}
    sections = (("modules", modules_by_part(modules, trees)),
                ("imports", import_graph(imported, part)),
                ("settings", settings_table(trees)))
    for name, body in sections:
        text = with_section(text, name, body, "gen")
    return text


# Each page with what renders its generated sections.
PAGES: tuple[tuple[Path, Callable[[str], str]], ...] = ((README, render),
                                                       (ARCHITECTURE, render_architecture))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    # Help text wraps to the terminal width: fix it so the output does not depend on who runs it.
    import os

    os.environ["COLUMNS"] = "100"
    stale = []
    for path, render_page in PAGES:
        current = path.read_text(encoding="utf-8")
        fresh = render_page(current)
        if args.check and fresh != current:
            stale.append(f"{path.relative_to(REPO_DIR)} is stale: run scripts/gen_docs.py")
        elif fresh != current:
            path.write_text(fresh, encoding="utf-8")
    if args.check:
        # and numbers typed by hand, README copies of bench/results.md edited
        problems = stale + check()
        print("\n".join(problems), file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
