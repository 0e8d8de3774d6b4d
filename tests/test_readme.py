"""Every Python block in README.md runs as written (the streaming one against a real server)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    text = README.read_text(encoding="utf-8")
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        line = text.count("\n", 0, match.start()) + 2
        # padded so that a traceback's line numbers are the README's
        yield pytest.param("\n" * (line - 1) + match.group(1), id=f"README.md:{line}")


# What a block prints, where it prints something worth checking: (text in the block, text in its output).
EXPECTED_OUTPUT = [
    ("an.stream(frames, fps=30)", "status possible -> ready"),
    ("classify_expression(points)", "happiness"),
    ("CloudClient(server.url", "10 possible"),
    ("est.update(kf)", "0 (68, 2) 0 possible"),
    ("no/such.png", "FileNotFoundError"),
    ("mojofer.evaluate(", "accuracy 0.500"),
    ("analyze_video(", "in_short_interruption"),
]


def test_the_readme_has_python_blocks():
    assert len(list(python_blocks())) >= 3


@pytest.mark.parametrize("code", python_blocks())
def test_readme_block_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    for marker, expected in EXPECTED_OUTPUT:
        if marker in code:
            assert expected in out, out
    if "CloudClient" in code:
        lines = out.splitlines()
        assert len(lines) == 11, out  # one line per frame answered, then the Analyzer's status
        assert not any("CloudError" in line for line in lines), out
