"""Each stage's src/ deps in dvc.yaml are exactly the modules its script imports, directly or not, so that
editing a module re-runs every stage that runs it, and no other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from helpers import PROJECT

PACKAGE = "signlang"
SRC = Path("src") / PACKAGE


def imported_modules(path: Path) -> set[str]:
    """Names of the modules of this package that the file imports anywhere (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from signlang import x` imports the module signlang.x where there is one
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")[1:]
    candidates = [root / SRC.joinpath(*parts).with_suffix(".py"), root / SRC.joinpath(*parts, "__init__.py")]
    return next((path.relative_to(root) for path in candidates if path.is_file()), None)


def import_closure(root: Path, script: Path) -> set[Path]:
    """The package's files that running ``script`` loads: every module it imports, transitively, and the
    package's __init__.py (Python runs it before any of its modules)."""
    seen: set[Path] = set()
    todo = [root / script]
    while todo:
        for name in imported_modules(todo.pop()):
            for parent in (PACKAGE, name):  # importing signlang.x runs signlang/__init__.py first
                path = module_file(root, parent)
                if path is not None and path not in seen:
                    seen.add(path)
                    todo.append(root / path)
    return seen


def stage_scripts(dvc_yaml: dict) -> dict[str, Path]:
    scripts = {}
    for name, stage in dvc_yaml["stages"].items():
        match = re.search(r"python (stages/\S+\.py)", stage.get("do", stage)["cmd"])  # do: a foreach stage's body
        assert match, f"stage {name}: cmd does not run a stages/*.py script"
        scripts[name] = Path(match[1])
    return scripts


def dep_mismatches(root: Path) -> list[str]:
    """One line per stage whose src/ deps differ from its script's import closure."""
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    problems = []
    for name, script in stage_scripts(dvc_yaml).items():
        stage = dvc_yaml["stages"][name]
        deps = stage.get("do", stage)["deps"]
        listed = {Path(dep) for dep in deps if isinstance(dep, str) and dep.startswith("src/")}
        needed = import_closure(root, script)
        if str(script) not in deps:
            problems.append(f"stage {name}: deps lack its script {script}")
        if missing := needed - listed:
            problems.append(f"stage {name}: deps lack {', '.join(sorted(map(str, missing)))}")
        if extra := listed - needed:
            problems.append(f"stage {name}: deps list {', '.join(sorted(map(str, extra)))}, which it never imports")
    return problems


def test_every_stage_depends_on_exactly_the_modules_it_imports() -> None:
    assert dep_mismatches(PROJECT) == []


def copy_project(tmp_path: Path) -> Path:
    for source in [PROJECT / "dvc.yaml", *(PROJECT / "stages").glob("*.py"), *(PROJECT / SRC).glob("*.py")]:
        target = tmp_path / source.relative_to(PROJECT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    return tmp_path


def test_a_module_imported_but_not_listed_is_caught(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    (root / SRC / "newmodule.py").write_text("VALUE = 1\n")
    # evaluate's script reaches the new module through evaluation.py, inside a function
    evaluation = root / SRC / "evaluation.py"
    lazy_import = "\n\ndef later() -> int:\n    from signlang.newmodule import VALUE\n\n    return VALUE\n"
    evaluation.write_text(evaluation.read_text() + lazy_import)
    assert dep_mismatches(root) == ["stage evaluate: deps lack src/signlang/newmodule.py"]


def test_a_module_listed_but_not_imported_is_caught(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    dvc_yaml = (root / "dvc.yaml").read_text()
    cli = "\n      - src/signlang/cli.py\n"  # the first stage at this indent: prepare (landmarks' deps sit deeper)
    (root / "dvc.yaml").write_text(dvc_yaml.replace(cli, cli + "      - src/signlang/predict.py\n", 1))
    assert dep_mismatches(root) == ["stage prepare: deps list src/signlang/predict.py, which it never imports"]


def test_a_foreach_stage_is_checked_too(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    dvc_yaml = (root / "dvc.yaml").read_text()
    (root / "dvc.yaml").write_text(dvc_yaml.replace("        - src/signlang/landmarks.py\n", "", 1))
    assert dep_mismatches(root) == ["stage landmarks: deps lack src/signlang/landmarks.py"]
