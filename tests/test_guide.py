"""The documentation is checked like code.

- Every ```python block of docs/guide.md runs and its asserts hold: each formula of the guide
  is evaluated against minigan (the hand-worked MMD case, the affine backward in index form,
  BCE via softplus, D* = 1/2, Adam's bias correction, the inverse-CDF transform, ...).
- Every relative link, image and backticked repository path in README.md and docs/*.md
  resolves to a file inside the repository, and every #anchor to a heading of its target.
- Nothing in the repository's text refers to a file outside it, and every docs/ file the code
  cites exists.
- docs/make_figures.py, which draws the guide's diagrams, runs.
- The guide's display formulas are LaTeX that GitHub renders, and every module that carries
  maths names the guide section deriving it.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "guide.md"
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"`((?:minigan|ext|docs|demos|tests|\.ci)/[\w./*-]*)`")


def python_blocks(path):
    """(heading above the block, code) for every ```python block of a markdown file."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) == "python":
            headings = re.findall(r"^#+ (.+)$", text[:match.start()], re.M)
            blocks.append((headings[-1] if headings else "top", match.group(2)))
    return blocks


GUIDE_BLOCKS = python_blocks(GUIDE)


def test_the_guide_has_its_checks():
    assert len(GUIDE_BLOCKS) >= 12


def test_no_block_with_checks_escapes_the_run():
    """A block tagged anything but python (```py, ```pyhton, untagged) is not run: it must
    then hold no assert, or its checks would silently stop being checks."""
    for lang, code in FENCE.findall(GUIDE.read_text(encoding="utf-8")):
        assert lang == "python" or "assert" not in code, f"a ```{lang} block has asserts"


@pytest.mark.parametrize("code", [c for _, c in GUIDE_BLOCKS],
                         ids=[f"{i}-{h[:40]}" for i, (h, _) in enumerate(GUIDE_BLOCKS)])
def test_guide_block_runs(code, capsys):
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "guide_block"})


DISPLAY = re.compile(r"^\$\$\n(.*?)^\$\$$", re.M | re.S)
GUIDED_MODULES = ["layers", "losses", "optim", "mmd", "spectral", "gan", "mmdgan", "deep_kernel"]


def prose(path):
    """The text of a markdown file outside its code blocks."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def test_display_formulas_are_latex():
    """Every display formula is a $$ ... $$ block GitHub renders (balanced, with LaTeX in it),
    none is left as indented plain text."""
    text = prose(GUIDE)
    displays = DISPLAY.findall(text)
    assert len(displays) >= 20
    assert text.count("$$") == 2 * len(displays), "an unpaired $$"
    for formula in displays:
        assert "\\" in formula or "=" in formula
        assert not re.search(r"[∂Σ‖⟨⟩√]", formula), formula[:60]
    lines = text.splitlines()
    indented = [line for before, line in zip(lines, lines[1:])   # an indented maths paragraph
                if not before.strip() and re.match(r"^ {2,}\S", line)
                and re.search(r"[=∂Σ]", line)]
    assert not indented, f"plain-text display formulas: {indented[:3]}"
    for line in text.splitlines():                       # inline maths: paired dollars
        assert line.count("$") % 2 == 0, f"unpaired $ in: {line[:80]}"


def test_each_maths_module_names_its_guide_section():
    """The docstrings of the modules that carry the maths point to the guide section that
    derives it, and that section exists."""
    import importlib
    headings = re.findall(r"^### (\d+\.\d+) ", GUIDE.read_text(encoding="utf-8"), re.M)
    for name in GUIDED_MODULES:
        doc = importlib.import_module(f"minigan.{name}").__doc__
        assert "docs/guide.md" in doc, f"minigan/{name}.py does not point to the guide"
        cited = re.findall(r"sections? (\d+\.\d+)", doc)
        assert cited, f"minigan/{name}.py names no guide section"
        assert set(cited) <= set(headings), f"minigan/{name}.py cites a section that is not there"


def test_reading_order_names_every_module_of_the_library():
    """Section 2 of the guide names every module `import minigan` loads (asked of a fresh
    interpreter), so a new part of the library cannot be left out of the reading order."""
    listing = ("import sys, minigan; print(' '.join(sorted(n.split('.')[1] for n in sys.modules"
               " if n.count('.') == 1 and n.startswith('minigan.') and n != 'minigan._ext')))")
    loaded = subprocess.run([sys.executable, "-c", listing], check=True, capture_output=True,
                            text=True, cwd=ROOT).stdout.split()
    assert {"mmd", "mmdgan", "spectral", "deep_kernel"} <= set(loaded)
    text = GUIDE.read_text(encoding="utf-8")
    order = text[text.index("## 2. Reading order"):text.index("## 3. Derivations")]
    missing = sorted(m for m in loaded if f"`minigan/{m}.py`" not in order)
    assert not missing, f"the reading order leaves out: {missing}"


def test_timing_exercise_fixes_the_bandwidths():
    """Exercise 3 times the kernel with bandwidths computed once, as minigan bench does; timed
    with sigmas=None each call would also re-derive them, an O(N^2) pass bigger than the
    compiled kernel, and its ratio would not be the benchmark's."""
    text = GUIDE.read_text(encoding="utf-8")
    exercise = text[text.index("### Exercise 3"):text.index("### Exercise 4")]
    code = "".join(c for _, c in FENCE.findall(exercise))
    assert "median_ladder(X, Y)" in code
    assert "minigan.mmd2_and_grad(X, Y, sigmas, backend=name)" in code


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"`|\*", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def links(path):
    """Link targets outside code blocks (code may contain brackets and parentheses)."""
    return LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def test_slug_matches_github():
    assert slug("3.5 The GAN: optimal discriminator") == "35-the-gan-optimal-discriminator"
    assert slug("Results: 8×8 digits") == "results-88-digits"


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve_inside_the_repository(md):
    checked = 0
    for target in links(md):
        if re.match(r"[a-z]+:", target):          # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (md.parent / file_part).resolve() if file_part else md
        assert dest.is_relative_to(ROOT), f"{md.name}: {target} leaves the repository"
        assert dest.exists(), f"{md.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(dest), f"{md.name}: no heading for #{anchor} in {dest.name}"
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("md", MARKDOWN, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_repository_paths_exist(md):
    for path in REPO_PATH.findall(md.read_text(encoding="utf-8")):
        assert list(ROOT.glob(path.rstrip("/"))), f"{md.name}: `{path}` is not in the repository"


def test_nothing_refers_to_files_outside_the_repository():
    design_notes = "DESIGN" + ".md"   # the old name of docs/design.md, spelled so as not to match
    texts = [*MARKDOWN, *ROOT.glob("minigan/*.py"), *ROOT.glob("ext/*.pyx"),
             *ROOT.glob("demos/*.py"), ROOT / "setup.py"]
    for path in texts:
        text = path.read_text(encoding="utf-8")
        assert design_notes not in text, f"{path.name} cites {design_notes}: use docs/design.md"
        assert "/work/" not in text, f"{path.name} names a path outside the repository"


def test_docs_cited_by_the_code_exist():
    cited = set()
    for path in [*ROOT.glob("minigan/*.py"), *ROOT.glob("ext/*.pyx"), *ROOT.glob("demos/*.py")]:
        cited |= set(re.findall(r"\bdocs/[\w.-]+\.(?:md|png|py)", path.read_text(encoding="utf-8")))
    assert "docs/design.md" in cited
    for name in cited:
        assert (ROOT / name).exists(), f"the code cites {name}, which is not in the repository"


def test_make_figures_runs(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "docs" / "make_figures.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    assert len(list(tmp_path.glob("guide_*.png"))) == 6
