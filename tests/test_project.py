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


def _import_graph() -> dict[str, set[str]]:
    """Module -> the mmtheory modules it imports (module level and inside functions), from the source."""
    import ast

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    files = {name_of(p): p for p in (ROOT / "mmtheory").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        graph[name] = {m for m in found if m in files and m != name}
    return graph


#: The rooms of the grid runner and who may import whom (issue 20): lower rooms never import higher ones.
ROOMS = {
    "mmtheory._digest": set(),           # one jsonable, one parameter hasher, one source hasher
    "mmtheory.params": set(),            # parameters declared once, the one validator
    "mmtheory.parallel": set(),          # Dask connect, the one dispatch loop, map_runs
    "mmtheory._io": set(),
    "mmtheory._validation": set(),
    "mmtheory.runs": {"mmtheory._digest", "mmtheory._io"},  # run ids, digests, folders, records, the table
}


def test_layering_of_the_rooms_and_no_import_cycle():
    graph = _import_graph()
    for room, allowed in ROOMS.items():
        assert graph[room] <= allowed, f"{room} imports {sorted(graph[room] - allowed)}"
    # only the command line uses the grid front end; the experiments take map_runs from the parallel room
    assert {m for m, deps in graph.items() if "mmtheory.sweep" in deps} <= {"mmtheory.cli"}
    for m in ("mmtheory.experiments.ogm", "mmtheory.experiments.modality_sweep"):
        assert "mmtheory.parallel" in graph[m] and "mmtheory.sweep" not in graph[m]
    # no cycle anywhere in the package (lazy imports included)
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in graph[m]:
            assert state.get(d) != 1, f"import cycle: {' -> '.join(path + [m, d])}"
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_low_rooms_import_nothing_of_mmtheory_when_loaded():
    import subprocess
    import sys

    code = ("import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.startswith('mmtheory.')))")
    for room, allowed in ROOMS.items():
        out = subprocess.run([sys.executable, "-c", code, room], capture_output=True, text=True, check=True,
                             cwd=ROOT).stdout
        # mmtheory/__init__ pins the CPU dispatch (mmtheory._dispatch, standard library only) before anything else
        assert set(eval(out)) <= allowed | {room, "mmtheory._dispatch"}, (room, out)


def test_declared_parameters_match_the_functions_they_describe():
    """The declared defaults (mmtheory.params) are the functions' own: a change in one place is caught."""
    import inspect

    from mmtheory import params as P
    from mmtheory.experiments.cremad import train_cremad
    from mmtheory.experiments.modality_sweep import modality_sweep
    from mmtheory.experiments.ogm import run_standin
    from mmtheory.train.late_fusion import TrainConfig

    def defaults(fn):
        return {k: v.default for k, v in inspect.signature(fn).parameters.items()
                if v.default is not inspect.Parameter.empty}

    sweep_d = {**defaults(modality_sweep), "init_seed": defaults(modality_sweep)["seed"], "seed": 0, "ratio": 1.0}
    for k, p in P.MODALITY_SWEEP.items():
        assert p.required or sweep_d[k] == p.default, k
    for k, p in P.STANDIN.items():
        assert p.required or k == "seed" or defaults(run_standin)[k] == p.default, k
    cfg, cremad_d = TrainConfig(), defaults(train_cremad)
    for k, p in P.CREMAD.items():
        expected = getattr(cfg, k, cremad_d.get(k))
        if k == "modalities":
            expected = "+".join(cremad_d[k])
        elif k in ("variant", "modulation_start", "modulation_end", "params", "noise_on"):
            continue  # OGMGE's keywords (checked through the CLI's train command)
        assert expected == p.default, k


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
