"""The C core's folders depend on each other one way only (docs/design.md,
"One boundary shapes the code"): stream -> estimate -> base, anonymize -> base,
and estimate/ never reaches anonymize/ (nothing on the estimate side sees a
pixel). Checked from the source text, by what each file includes and by which
folder defines each mf_ function it calls, so that a back-edge fails here
before it is built on."""
import re
from pathlib import Path

CSRC = Path(__file__).resolve().parents[1] / "csrc"
BINDING = Path(__file__).resolve().parents[1] / "mojofer"
FOLDERS = ("base", "anonymize", "estimate", "stream")
# what each folder may use besides itself
ALLOWED = {
    "base": set(),
    "anonymize": {"base"},
    "estimate": {"base"},
    "stream": {"base", "estimate"},
}
# the public header each folder declares its functions in
PUBLIC = {"base": "mojofer.h", "anonymize": "mojofer.h", "estimate": "mojofer.h",
          "stream": "mojofer_stream.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
DEFINITION = re.compile(r"^[A-Za-z_][\w \t*]*?\b(mf_\w+)\s*\([^;{]*\)\s*\{", re.M)
CALL = re.compile(r"\b(mf_[a-z]\w*)\s*\(")


def sources(folder):
    return sorted((CSRC / folder).glob("*.[ch]"))


def include_target(path, name):
    """The folder (or "include" for a public header) that `name`, included
    from `path`, resolves to: the including file's folder first, then
    csrc/include, then csrc (as the build's -I flags)."""
    for base in (path.parent, CSRC / "include", CSRC):
        found = base / name
        if found.exists():
            return found.resolve().relative_to(CSRC.resolve()).parts[0], found.name
    raise AssertionError(f"{path.relative_to(CSRC)} includes {name!r}, found nowhere")


def include_edges():
    edges = set()
    for folder in FOLDERS:
        for path in sources(folder):
            for name in INCLUDE.findall(path.read_text()):
                target, header = include_target(path, name)
                edges.add((folder, target if target != "include" else header, path.name))
    return edges


def definitions():
    owner = {}
    for folder in FOLDERS:
        for path in sources(folder):
            if path.suffix == ".c":
                for name in DEFINITION.findall(path.read_text()):
                    owner[name] = folder
    return owner


def test_the_core_is_in_its_four_folders():
    assert not list(CSRC.glob("*.c")) and not list(CSRC.glob("*.h"))
    for folder in FOLDERS:
        assert any(p.suffix == ".c" for p in sources(folder)), folder
    assert sorted(p.name for p in (CSRC / "include").glob("*.h")) == ["mojofer.h", "mojofer_stream.h"]


def test_includes_point_one_way():
    wrong = []
    for folder, target, name in include_edges():
        if target in FOLDERS:
            ok = target == folder or target in ALLOWED[folder]
        else:  # a public header: the stream's only from stream/
            ok = target == "mojofer.h" or folder == "stream"
        if not ok:
            wrong.append(f"{folder}/{name} includes {target}")
    assert not wrong, wrong


def test_calls_point_one_way():
    """A folder calls only functions defined in itself or in what it may use:
    the public header declares everything, so includes alone cannot tell
    estimate/ calling the detector."""
    owner = definitions()
    assert owner["mf_status_str"] == "base" and owner["mf_detect"] == "anonymize"
    assert owner["mf_estimator_update"] == "estimate" and owner["mf_wire_peek"] == "stream"
    wrong = set()
    for folder in FOLDERS:
        for path in sources(folder):
            for name in CALL.findall(path.read_text()):
                used = owner.get(name)
                if used and used != folder and used not in ALLOWED[folder]:
                    wrong.add(f"{folder}/{path.name} calls {name} of {used}/")
    assert not wrong, sorted(wrong)


def test_functions_are_declared_in_their_folders_public_header():
    """mojofer.h holds base, anonymize and estimate; mojofer_stream.h the rest."""
    public = {h: set(re.findall(r"\b(mf_\w+)\s*\(", (CSRC / "include" / h).read_text()))
              for h in ("mojofer.h", "mojofer_stream.h")}
    misplaced = [f"{name} ({folder}/) in {header}"
                 for name, folder in definitions().items()
                 for header, names in public.items()
                 if name in names and header != PUBLIC[folder]]
    assert not misplaced, misplaced


def test_the_binding_includes_public_headers_only():
    for path in sorted(BINDING.rglob("_core*.[ch]")):
        for name in INCLUDE.findall(path.read_text()):
            local = (path.parent / name).exists()
            assert local or name in ("mojofer.h", "mojofer_stream.h"), (path.name, name)
