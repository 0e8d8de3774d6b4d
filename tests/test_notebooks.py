"""The notebooks run from top to bottom on a fresh kernel, as committed
(their outputs are committed too: this checks that they still come out of
the code as it is). They read the research data: the `data` marker."""
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("name", ["evaluate_a_dataset.ipynb", "video.ipynb"])
def test_notebook_runs(name, data_root, monkeypatch):
    monkeypatch.setenv("MOJOFER_DATA", str(data_root))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    committed = [c.outputs for c in notebook.cells if c.cell_type == "code"]
    assert all(committed), f"{name}: a code cell without its committed output"
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
