"""The markdown is run as a reader would run it.

- README.md's ```python blocks run in order, in one namespace, as pasted into one Python
  process (a later block may use what an earlier one defined, and nothing else).
- So do the blocks of every docs/*.md page, one namespace per page; docs/guide.md and
  docs/compiled.md are run block by block by tests/test_guide.py and
  tests/test_compiled_doc.py, which also check their asserts.
- The README stays a front door: at most 150 lines, and every figure of its headline table is
  quoted from docs/results.md, the one home of measured figures.
- The repository's files speak of the product, not of how it was written: no words that only
  make sense in the project's history.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results.md"
RUN_ELSEWHERE = {"guide.md": "test_guide.py", "compiled.md": "test_compiled_doc.py"}
PAGES = [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in RUN_ELSEWHERE]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def python_blocks(path):
    return [code for lang, code in FENCE.findall(path.read_text(encoding="utf-8"))
            if lang == "python"]


def run_in_order(path, blocks):
    """exec each block in one shared namespace, as a reader pasting them into one Python prompt."""
    namespace = {"__name__": "__main__"}
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"{path.name}, python block {number}", "exec"), namespace)
    return namespace


def test_readme_blocks_run_in_order_as_pasted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                 # the blocks write files (a checkpoint)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = python_blocks(README)
    assert len(blocks) >= 3
    namespace = run_in_order(README, blocks)
    assert (tmp_path / "gan.npz").exists()      # the checkpoint block did what it says
    assert namespace["h"].shape == (len(namespace["points"]),)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_docs_blocks_run_in_order_as_pasted(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_in_order(page, python_blocks(page))


@pytest.mark.parametrize("page, test_file", sorted(RUN_ELSEWHERE.items()))
def test_the_other_pages_are_run_by_their_own_tests(page, test_file):
    assert python_blocks(ROOT / "docs" / page)
    assert page in (ROOT / "tests" / test_file).read_text(encoding="utf-8")


def test_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move detail to docs/"


def test_headline_figures_are_quoted_from_results():
    """Every number in the README's headline table appears in docs/results.md."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Headline results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    figures = {f for row in rows[1:] for f in re.findall(r"\d+\.\d+", row.split("|")[2])}
    assert len(figures) >= 10
    results = RESULTS.read_text(encoding="utf-8")
    missing = sorted(f for f in figures if f not in results)
    assert not missing, f"README headline figures not in docs/results.md: {missing}"


@pytest.mark.parametrize("md", [README, *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_no_debug_output_in_the_markdown(md):
    """A printed dict's keys or an object's repr is a debugging line, not a result."""
    text = md.read_text(encoding="utf-8")
    for leftover in ("dict_keys(", "dict_values(", " object at 0x", "<function "):
        assert leftover not in text, f"{md.name} holds a debugging line: {leftover}"


@pytest.mark.parametrize("md", [README, *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_no_control_characters_in_the_markdown(md):
    """A backslash escape gone wrong in an edit (\\b, \\a, \\f of LaTeX read by Python) leaves a
    control character where the formula had a command."""
    text = md.read_text(encoding="utf-8")
    found = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    assert not found, f"{md.name}: control character at {found.start()}"


def test_compiled_page_calls_name_the_codes_variables():
    """The gemm calls docs/compiled.md quotes use the names the kernel's source uses."""
    page = (ROOT / "docs" / "compiled.md").read_text(encoding="utf-8")
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "ext").glob("*.pxi"))
    calls = re.findall(r"`gemm\(([^`]*)\)`", page)
    assert calls
    for call in calls:
        for name in re.findall(r"\b[A-Za-z_]\w*\b", call):
            assert re.search(rf"\b{name}\b", source), f"compiled.md quotes {name}: not in ext/"


# spelled in pieces so that this file does not match itself
# (a browser's session, as in the lab, is a word of the product; "an earlier one" is history)
SES = "ses" + "sion"
HISTORY_WORDS = re.compile("|".join([rf"\b(this|that|last|previous|next|earlier|later) {SES}",
                                     rf"\b{SES}[- ]?\d", rf"\b{SES}'s (run|work|figure)",
                                     r"\biss" + r"ue \d", r"first " + "plan",
                                     r"earlier " + "run"]), re.I)
SKIP_DIRS = {".git", "build", "dist", "__pycache__", ".hypothesis", ".pytest_cache",
             "minigan_out", "minigan_exercises"}
TEXT_SUFFIXES = {".py", ".pyx", ".pxi", ".pxd", ".md", ".toml", ".cfg", ".txt", ".in", ".yml",
                 ".yaml", ".html", ".js", ".css", ".json", ""}


def repository_text_files():
    """The repository's own text files: not build products, and not a virtual environment
    made inside the checkout under any name (`python -m venv venv`, `.venv`, ...)."""
    venvs = {p.parent.name for p in ROOT.glob("*/pyvenv.cfg")}
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if (path.is_file() and not parts & (SKIP_DIRS | venvs) and path.suffix in TEXT_SUFFIXES
                and not any(p.endswith(".egg-info") for p in parts)):
            yield path


def test_no_project_history_words_in_the_repository():
    found = []
    for path in repository_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if HISTORY_WORDS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "say what a thing is, not when it was written:\n" + "\n".join(found)
