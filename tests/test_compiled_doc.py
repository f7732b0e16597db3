"""docs/compiled.md: every Python block in it runs, in order, and its asserts hold.

The blocks are the checks of the formulas the page states (the task split's bookkeeping,
the ladder's 4^(ns-1) error growth, the row-major gemm trick, subnormals, the pair count),
so a change that makes the page wrong fails here. Some blocks need the compiled core.
"""
import re
from pathlib import Path

from compiled import require_built

PAGE = Path(__file__).resolve().parent.parent / "docs" / "compiled.md"


def test_every_python_block_of_the_page_runs():
    require_built("mmd")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) >= 6
    namespace = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{PAGE.name}, python block {number}", "exec"), namespace)


def test_the_page_links_only_to_files_in_the_repository():
    for target in re.findall(r"\]\(([^)#]+)\)", PAGE.read_text()):
        assert (PAGE.parent / target).is_file(), target
    for path in re.findall(r"`((?:ext|minigan|tests|docs)/[\w./]+\.(?:py|pyx|pxi|md))`",
                           PAGE.read_text()):
        assert (PAGE.parent.parent / path).is_file(), path
