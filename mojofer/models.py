"""Where the bundled files are: the models and the browser page, inside the
installed package (the build copies them there), or in the repository's
models/ and web/ folders for an editable install."""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _places(folder: str) -> tuple[Path, Path]:
    return _PACKAGE / folder, _PACKAGE.parent / folder


def model_path(name: str) -> Path:
    for folder in _places("models"):
        if (folder / name).is_file():
            return folder / name
    inside, beside = _places("models")
    raise FileNotFoundError(f"bundled model {name!r} not found in {inside} or {beside}; reinstall mojofer")


def models_folder() -> Path:
    """The folder of the bundled models (the page fetches them from it)."""
    return model_path("landmarks.mfm").parent


def web_folder() -> Path:
    """The folder of the browser page (web/: index.html and its scripts)."""
    for folder in _places("web"):
        if (folder / "index.html").is_file():
            return folder
    inside, beside = _places("web")
    raise FileNotFoundError(f"the browser page (index.html) not found in {inside} or {beside}; "
                            "reinstall mojofer")
