"""Shared fixtures: the bundled sample picture, the research data folder, detectors.

Tests that read the research data (those that use the `data_root` fixture, directly or
through another fixture) carry the `data` marker; those that drive a headless browser the
`browser` marker; those that run the WebAssembly build (node, emcc) the `wasm` marker. Where what they need is missing they are deselected with the reason
printed, so a clone without it runs the rest green; under CI (CI set in the environment)
or with MOJOFER_REQUIRE_DATA=1 they run, and fail with the reason.
"""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mojofer

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "mojofer" / "data" / "astronaut.png"


def research_data_folder() -> Path:
    """$MOJOFER_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("MOJOFER_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def data_missing_reason():
    """Why the research data cannot be used, or None when it is there."""
    root = research_data_folder()
    if (root / "README.md").is_file():
        return None
    return (f"research data not found at {root} (set MOJOFER_DATA to the folder holding "
            "landmarks/, detection/, ... or place it at ../shared/data)")


def everything_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("MOJOFER_REQUIRE_DATA") == "1"


def wasm_missing_reason():
    """Why tests/test_wasm.py cannot run (node or emcc missing), or None."""
    missing = [tool for tool in ("node", "emcc") if shutil.which(tool) is None]
    if not missing:
        return None
    return (f"{' and '.join(missing)} not found: the WebAssembly tests need Node.js and emscripten "
            "(Debian: nodejs, emscripten)")


def needs():
    """Each marker whose tests need something this machine may lack, and
    the function telling why it is missing (None: it is there)."""
    from browser_page import browser_missing_reason
    return {"data": data_missing_reason, "browser": browser_missing_reason, "wasm": wasm_missing_reason}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "data_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)
    config._mojofer_deselected = []
    for marker, missing_reason in needs().items():
        marked = [item for item in items if marker in item.keywords]
        reason = missing_reason() if marked else None
        if reason is None or everything_required():
            continue
        config.hook.pytest_deselected(items=marked)
        items[:] = [item for item in items if marker not in item.keywords]
        config._mojofer_deselected.append((marker, len(marked), reason))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for marker, count, reason in getattr(config, "_mojofer_deselected", ()):
        terminalreporter.write_line(f"{count} tests marked '{marker}' not collected: {reason}", yellow=True)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The research data folder; CI has it, so there a missing one is a failure, not a skip."""
    reason = data_missing_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    return research_data_folder()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The public-domain NASA portrait bundled with the package: 512x512 RGB uint8, one face."""
    if not ASTRONAUT.is_file():
        pytest.fail(f"bundled sample image missing: {ASTRONAUT}", pytrace=False)
    frame = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    frame.setflags(write=False)  # shared by tests: nobody may modify it
    return frame


@pytest.fixture(scope="session")
def detector() -> mojofer.FaceDetector:
    return mojofer.FaceDetector()


@pytest.fixture(scope="session")
def landmarker() -> mojofer.Landmarker:
    """The bundled 68-point landmark model."""
    return mojofer.Landmarker()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost / 127.0.0.1, made here: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"
