"""The project's own promises: layout, dependencies in step, notebooks executed and parameterised."""

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower()


def test_design_card_layout():
    for path in ["book", "notebooks", "mmtheory", "_config.yml", "_toc.yml", "tests", "environment.yml",
                 "pyproject.toml", "README.md", ".ci/run", "constraints.txt"]:
        assert (ROOT / path).exists(), path


def test_environment_yml_and_pyproject_list_the_same_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d) for d in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        deps |= {_name(d) for d in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_deps = {_name(d) for d in pip if not d.startswith("-")}
    assert conda_deps == deps
    assert "-c constraints.txt" in pip


def test_constraints_pin_everything_once():
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    pins = dict(line.split("==", 1) for line in lines)
    assert pins["torch"] == "2.13.0"  # the CPU build on disk here; an open range pulls a CUDA build
    assert pins["jupyter-book"].startswith("1.")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        assert _name(dep) in {k.lower() for k in pins}, dep
        assert "==" not in dep, f"pin {dep} in constraints.txt, not in pyproject.toml"


def toc_notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f for f in files if f.startswith("notebooks/")]


def test_toc_entries_exist():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for f in files:
        assert (ROOT / f"{f}.md").exists() or (ROOT / f"{f}.ipynb").exists(), f
    on_disk = {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk == set(toc_notebooks()), "every notebook belongs in the table of contents"


@pytest.mark.parametrize("nb_file", toc_notebooks())
def test_notebook_is_parameterised_executed_and_clean(nb_file):
    nb = nbformat.read(ROOT / f"{nb_file}.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one papermill 'parameters' cell"
    assert 'profile = "quick"' in params[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "committed notebooks carry their quick-profile outputs"
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    for c in code:
        for out in c.get("outputs", []):
            assert out.get("output_type") != "error", f"{nb_file} was committed with an error"
            assert "%|" not in out.get("text", ""), "progress bars must not reach committed outputs"
        assert not re.search(r"^\s*class\s", c.source, re.M), "notebooks never define classes: put them in mmtheory/"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/build.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (ROOT / ".ci/run").read_text()


def test_theory_never_imports_training_code():
    # theory may use torch tensors as arrays (the Rademacher estimators run on GPU), never training code
    pattern = re.compile(r"^\s*(from|import)\s+mmtheory\.(train|models|experiments)\b", re.M)
    for folder in ("theory", "data"):
        for path in (ROOT / "mmtheory" / folder).glob("*.py"):
            assert not pattern.search(path.read_text()), f"{path} imports training code"
    for path in (ROOT / "mmtheory" / "data").glob("*.py"):
        if path.name == "torchdata.py":  # the one module of torch Datasets
            continue
        assert not re.search(r"^\s*(from|import)\s+torch\b", path.read_text(), re.M), f"{path} imports torch"


def test_ruff_is_clean():
    """The lint configured in pyproject.toml ([tool.ruff]) passes on the package, tests, scripts and benchmarks."""
    import shutil
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    ruff = str(ruff) if ruff.exists() else shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed in this environment (pip install -c constraints.txt ruff); lint not run")
    proc = subprocess.run([ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"ruff found problems (fix them, or `ruff check --fix`):\n{proc.stdout}{proc.stderr}"


def test_lock_script_regenerates_the_constraints():
    script = ROOT / "scripts" / "lock.sh"
    assert "scripts/lock.sh" in (ROOT / "constraints.txt").read_text().splitlines()[0]
    text = script.read_text()
    assert script.stat().st_mode & 0o111, "scripts/lock.sh must be executable"
    assert "pip freeze" in text and "torch==" in text and "pyproject.toml" in text
