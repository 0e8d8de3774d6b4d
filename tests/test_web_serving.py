"""The browser page served by the streaming server on its own port (web=,
[web] in the TOML, `mojofer serve --web`): every file of web/ and the
bundled models over real HTTP, 404 for what is missing, nothing outside the
folders, and the WebSocket beside them on the same port, used by the real
CloudClient."""
import http.client
import subprocess
import sys
import textwrap

import pytest

import mojofer
from mojofer import CloudClient
from mojofer.models import models_folder, web_folder
from mojofer.server import Key, Server, load_config

KEY = Key("page", "api-page", "sock-page")
TIMEOUT = 10.0
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm",
         ".mfm": "application/octet-stream"}


@pytest.fixture
def server():
    with Server(port=0, keys=[KEY], web=True, log=None).start() as s:
        yield s


def get(server, path):
    """(status, content type, body) of a plain GET sent with `path` as written."""
    return get_at(server.port, path)


def get_at(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def test_the_page_at_the_root(server):
    status, kind, body = get(server, "/")
    assert (status, kind.split(";")[0]) == (200, "text/html")
    assert body == (web_folder() / "index.html").read_bytes()
    assert server.page_url == f"http://127.0.0.1:{server.port}/"


def test_every_file_of_the_page(server):
    files = [p for p in web_folder().iterdir() if p.is_file()]
    assert {"index.html", "app.js", "worker.js", "msgpack.js", "wire.js", "style.css"} <= {p.name for p in files}
    for path in files:
        status, kind, body = get(server, "/" + path.name)
        assert (status, kind.split(";")[0], body) == (200, TYPES[path.suffix], path.read_bytes()), path.name


@pytest.mark.parametrize("name", ["landmarks.mfm", "face_detector.mfm"])
def test_the_models_the_page_fetches(server, name):
    status, kind, body = get(server, f"/models/{name}")
    assert (status, kind) == (200, "application/octet-stream")
    assert body == (models_folder() / name).read_bytes() == mojofer.models.model_path(name).read_bytes()


@pytest.mark.parametrize("path", ["/no-such.js", "/models/no-such.mfm", "/models/"])
def test_missing_files_are_404(server, path):
    assert get(server, path)[0] == 404


@pytest.mark.parametrize("path", ["/../setup.py", "/models/../../setup.py", "/%2e%2e/setup.py",
                                  "/models/%2e%2e/%2e%2e/setup.py", "/..%2fsetup.py", "/models/..%2f..%2fsetup.py",
                                  "/%2e%2e/mojofer/server.py", "/models/../../mojofer/server.py"])
def test_nothing_outside_the_folders(server, path):
    """The repository (or site-packages) around web/ and models/ stays unserved."""
    status, _, body = get(server, path)
    assert status != 200 and b"import" not in body


def test_the_socket_on_the_same_port(server, astronaut):
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    url = server.page_url.replace("http://", "ws://")
    assert url == server.url
    with CloudClient(url, KEY.api_key, KEY.socket_key) as client:
        seq = client.send(0.0, [(1, points, None)])
        result = client.receive(timeout=TIMEOUT)
    assert result is not None and result.ok and result.seq == seq
    assert [f.id for f in result.faces] == [1] and result.faces[0].visible


def test_no_page_unless_asked():
    with Server(port=0, keys=[KEY], log=None).start() as s:
        assert s.page_url is None and s.web is None
        assert get(s, "/")[0] == 400
        assert get(s, "/models/landmarks.mfm")[0] == 400


def test_another_page_folder(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><p>mine</p>")
    with Server(port=0, keys=[KEY], web=tmp_path, log=None).start() as s:
        assert get(s, "/")[2] == b"<!doctype html><p>mine</p>"
        assert get(s, "/app.js")[0] == 404
        assert get(s, "/models/landmarks.mfm")[0] == 200


def test_a_bad_page_folder_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(OSError, match=rf"^cannot serve: static directory {missing} \(at /\): no such folder$"):
        Server(port=0, keys=[KEY], web=missing, log=None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"\(at /\): not a folder$"):
        Server(port=0, keys=[KEY], web=tmp_path / "file", log=None)
    with pytest.raises(TypeError, match="web must be True, False, None or a folder's path, got 3"):
        Server(port=0, keys=[KEY], web=3, log=None)


def write_config(tmp_path, web_table="", top=""):
    (tmp_path / "server.toml").write_text(top + textwrap.dedent("""
        port = 0
        [[keys]]
        id = "page"
        api_key = "api-page"
        socket_key = "sock-page"
    """) + textwrap.dedent(web_table))
    return tmp_path / "server.toml"


def test_the_web_table_of_the_config(tmp_path):
    assert "web" not in load_config(write_config(tmp_path))
    assert load_config(write_config(tmp_path, "[web]\nenabled = true\n"))["web"] is True
    assert load_config(write_config(tmp_path, "[web]\n"))["web"] is True
    assert load_config(write_config(tmp_path, "[web]\nenabled = false\nroot = 'x'\n"))["web"] is False
    assert load_config(write_config(tmp_path, "[web]\nroot = 'site'\n"))["web"] == tmp_path / "site"
    for table, top, why in (("[web]\nport = 1\n", "", r"unknown web setting\(s\) \['port'\]"),
                            ("[web]\nenabled = 'yes'\n", "", "web.enabled must be true or false"),
                            ("[web]\nroot = 3\n", "", "web.root must be a folder's path"),
                            ("", "web = true\n", "web must be a table")):
        with pytest.raises(ValueError, match=why):
            load_config(write_config(tmp_path, table, top))


def run_serve(*args):
    """`mojofer serve` started, its first two lines read, then stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        second = proc.stdout.readline() if first else ""
        return first, second, proc
    except BaseException:
        proc.kill()
        raise


def test_the_cli_switch(tmp_path):
    first, second, proc = run_serve("--config", write_config(tmp_path), "--web")
    try:
        assert first.startswith("mojofer: serving on ws://127.0.0.1:"), first
        port = int(first.split()[3].rsplit(":", 1)[1].rstrip("/"))
        assert second == f"mojofer: the page at http://127.0.0.1:{port}/\n"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("GET", "/app.js")
        assert conn.getresponse().read() == (web_folder() / "app.js").read_bytes()
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0


def test_the_cli_names_a_bad_root(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mojofer", "serve", "--config",
                           write_config(tmp_path, "[web]\nroot = 'nowhere'\n")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        f"mojofer: cannot serve: static directory {tmp_path / 'nowhere'} (at /): no such folder"


def test_serve_without_a_config_makes_a_key_for_the_run(astronaut):
    """The README's line to try the page: `mojofer serve --web` on 127.0.0.1
    with a key made for the run, printed (the page never holds one)."""
    proc = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("mojofer: serving on ws://127.0.0.1:") and "with 1 key(s)" in lines[0], lines
        port = int(lines[0].split()[3].rsplit(":", 1)[1].rstrip("/"))
        assert lines[1] == f"mojofer: the page at http://127.0.0.1:{port}/\n"
        words = lines[2].split()
        api_key, socket_key = words[words.index("api") + 2], words[words.index("socket") + 2]
        assert len(api_key) == len(socket_key) == 32 and api_key != socket_key
        points = mojofer.find_landmarks(astronaut)[0].landmarks
        with CloudClient(f"ws://127.0.0.1:{port}/", api_key, socket_key) as client:
            client.send(0.0, [(0, points, None)])
            assert client.flush(TIMEOUT) == 0
            (result,) = client.results()
        assert result.ok and result.faces[0].status == "possible"
        status, _, body = get_at(port, "/")
        assert status == 200 and body == (web_folder() / "index.html").read_bytes()
    finally:
        proc.terminate()
        assert proc.wait(TIMEOUT) == 0
    other = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--web", "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline() and other.stdout.readline()
        assert other.stdout.readline().split()[-3] != api_key  # a new key each run
    finally:
        other.terminate()
        other.wait(TIMEOUT)


def test_serve_port_only_without_a_config(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mojofer", "serve", "--config", write_config(tmp_path),
                           "--port", "9"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == \
        "mojofer: --port is for a server without --config: give port in the config file"
