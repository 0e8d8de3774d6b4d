"""Where the bundled models are: inside the installed package, or in the
repository's models/ folder for an editable install."""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def model_path(name: str) -> Path:
    for folder in (_PACKAGE / "models", _PACKAGE.parent / "models"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"bundled model {name!r} not found in {_PACKAGE / 'models'} "
                            f"or {_PACKAGE.parent / 'models'}; reinstall mojofer")
