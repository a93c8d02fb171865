"""Public functions in core/ say what they do (a docstring), and those that raise say so.

Measured over every module-level public function and every public method of a public class
in core/, read with `ast`. Files that other work is rewriting right now are left out by name
below; each is a debt to pay when that work lands, not an exception to the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Being rewritten by other changes at the time of writing (issue 21's coordinator's list).
NOT_YET: set[str] = set()
NOT_YET_PREFIXES: tuple[str, ...] = ()
# Command-line handlers (`register(sub)`, `run(args)`): their documentation is the argparse help
# each one registers, which `python -m core <command> --help` prints.
COMMANDS = "core/commands/"


def _skipped(rel: str) -> bool:
    return rel in NOT_YET or rel.startswith(NOT_YET_PREFIXES) or rel.startswith(COMMANDS)


def _public_functions(tree: ast.Module):  # noqa: ANN202 - yields (qualified name, node)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def _raises(fn: ast.AST) -> bool:
    """The function's own body raises an exception (a bare `raise` re-raising does not count;
    nested functions are their own)."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Raise) and node.exc is not None:
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def survey(root: Path = ROOT, *, skip: bool = True) -> tuple[int, list[str], list[str]]:
    """(public functions, those without a docstring, those that raise and do not say so)."""
    total, undocumented, silent = 0, [], []
    for path in sorted((root / "core").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if skip and _skipped(rel):
            continue
        for name, fn in _public_functions(ast.parse(path.read_text(encoding="utf-8"))):
            total += 1
            doc = ast.get_docstring(fn)
            if not doc:
                undocumented.append(f"{rel}:{name}")
            elif _raises(fn) and "raise" not in doc.lower():
                silent.append(f"{rel}:{name}")
    return total, undocumented, silent


def test_the_survey_sees_a_missing_docstring_and_an_unsaid_raise(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "x.py").write_text(
        'def a():\n    return 1\n\n'
        'def b():\n    """Says nothing of errors."""\n    raise ValueError("no")\n\n'
        'def c():\n    """Raises ValueError when asked."""\n    raise ValueError("no")\n\n'
        'def _private():\n    return 1\n\n'
        'class K:\n    def m(self):\n        return 1\n')
    assert survey(tmp_path) == (4, ["core/x.py:a", "core/x.py:K.m"], ["core/x.py:b"])


def test_public_functions_in_core_have_docstrings() -> None:
    _total, undocumented, _silent = survey()
    assert undocumented == []


def test_public_functions_in_core_that_raise_say_so() -> None:
    _total, _undocumented, silent = survey()
    assert silent == []


if __name__ == "__main__":  # the counts, for a report: python -m tests.test_docstrings
    for skip in (True, False):
        n, missing, unsaid = survey(skip=skip)
        print(f"{'outside the files being rewritten' if skip else 'all of core/'}: {n} public functions, "
              f"{len(missing)} without a docstring, {len(unsaid)} raise without saying so")
