"""The workflows that publish the book and run CI do what the README says (issue 28)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _readme_command(n: int) -> str:
    block = (ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    return block.splitlines()[n - 1].strip()


def _steps(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    return data, {job: data["jobs"][job].get("steps", []) for job in data["jobs"]}


def test_book_workflow_builds_with_readme_command_1_and_deploys_to_pages():
    data, steps = _steps(WORKFLOWS / "book.yml")
    triggers = data[True] if True in data else data["on"]            # YAML 1.1 reads `on:` as True
    assert triggers["push"]["branches"] == ["main"]
    runs = [s.get("run", "").strip() for s in steps["build"]]
    assert _readme_command(1) in runs, runs                            # the very command, not a variant
    uses = [s.get("uses", "") for job in steps.values() for s in job]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    upload = next(s for s in steps["build"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"                      # where command 1 writes the book
    assert data["permissions"]["pages"] == "write" and data["permissions"]["id-token"] == "write"


def test_ci_workflow_runs_dot_ci_run():
    _, steps = _steps(WORKFLOWS / "ci.yml")
    assert any(s.get("run", "").strip() == ".ci/run" for job in steps.values() for s in job)
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111                # executable


def test_readme_documents_publishing():
    text = (ROOT / "README.md").read_text()
    assert ".github/workflows/book.yml" in text and "GitHub Pages" in text
