"""Loopback stand-ins for the Hugging Face Hub and the authors' origin, for the download tests.

Both are real HTTP servers on 127.0.0.1 in a thread: huggingface_hub talks to them over sockets,
nothing below it is mocked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from huggingface_hub import constants

REPO_ID = "test/zoo"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Server:
    """An HTTP server on 127.0.0.1 (a free port) in a daemon thread; `handler` gets `owner` = self."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        bound = type("Handler", (handler,), {"owner": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the access log
        pass

    def _headers(self, headers: dict[str, str]) -> None:
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()


class LoopbackHub(_Server):
    """A minimal Hub: serves `files` of one repo, optionally failing with `status` or cutting GETs."""

    def __init__(self, files: dict[str, bytes], repo_id: str = REPO_ID) -> None:
        self.files = files
        self.repo_id = repo_id
        self.status: int | None = None      # answer every request with this HTTP status
        self.fail_next = 0                  # answer this many file requests with 503 first
        self.drop_at: int | None = None     # cut GET bodies at this byte offset ...
        self.drops_left = 0                 # ... this many times (-1: always)
        self.requests: list[tuple[str, str, str | None]] = []
        super().__init__(_HubHandler)

    def gets(self) -> int:
        return sum(method == "GET" for method, _, _ in self.requests)


class _HubHandler(_QuietHandler):
    owner: LoopbackHub

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def do_GET(self) -> None:
        self._respond(body=True)

    def _respond(self, body: bool) -> None:
        hub = self.owner
        hub.requests.append((self.command, self.path, self.headers.get("Range")))
        if hub.status is not None:
            # Retry-After: 0 keeps huggingface_hub's backoff between its retries at one second.
            return self._error(hub.status, {"Retry-After": "0"})
        if hub.fail_next and "/resolve/" in self.path:
            hub.fail_next -= 1
            return self._error(503, {"Retry-After": "0"})
        if not self.path.startswith(f"/{hub.repo_id}/"):  # what the Hub answers for unknown repos
            return self._error(401, {"X-Error-Code": "RepoNotFound"})
        match = re.fullmatch(rf"/{hub.repo_id}/resolve/(?:main|{COMMIT})/([^/]+)", self.path)
        data = hub.files.get(match.group(1)) if match else None
        if data is None:
            return self._error(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        self._serve(data, COMMIT, body)

    def _serve(self, data: bytes, commit: str, body: bool) -> None:
        """`data` as the Hub serves a file (ETag, commit, ranges), cut short while `drops_left`."""
        owner = self.owner
        start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-")).group(1))
        self.send_response(206 if start else 200)
        headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": commit,
                   "Content-Length": str(len(data) - start), "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream", "Connection": "close"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._headers(headers)
        if not body:
            return
        if owner.drop_at is not None and owner.drops_left != 0:
            owner.drops_left -= 1
            self.wfile.write(data[start:max(start, owner.drop_at)])  # then the connection closes
            return
        self.wfile.write(data[start:])

    def _error(self, status: int, extra: dict[str, str]) -> None:
        text = f"error {status}".encode()
        self.send_response(status)
        self._headers({**extra, "Content-Length": str(len(text)), "Content-Type": "text/plain",
                       "Connection": "close"})
        if self.command != "HEAD":
            self.wfile.write(text)


class LoopbackHubDatasets(_Server):
    """The Hub's dataset file routes, `/datasets/{repo_id}/resolve/{revision}/{path}` (HEAD and GET,
    with ETag, X-Repo-Commit = the revision asked for, Content-Length, Range), for any revision.

    `files` maps "repo_id/path" to bytes. `drop_at` cuts GET bodies at that offset `drops_left`
    times (-1: always); `status` answers every request with it.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.status: int | None = None
        self.drop_at: int | None = None
        self.drops_left = 0
        self.requests: list[tuple[str, str]] = []
        super().__init__(_HubDatasetsHandler)

    def gets(self) -> int:
        return sum(method == "GET" for method, _ in self.requests)


class _HubDatasetsHandler(_HubHandler):
    """The Hub's dataset routes (`/datasets/OWNER/NAME/resolve/REVISION/PATH`)."""

    owner: LoopbackHubDatasets  # type: ignore[assignment]

    def _respond(self, body: bool) -> None:
        hub = self.owner
        hub.requests.append((self.command, self.path))
        if hub.status is not None:
            return self._error(hub.status, {"Retry-After": "0"})
        match = re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
        if match is None:
            return self._error(404, {"X-Error-Code": "RepoNotFound"})
        repo_id, revision, filename = match.groups()
        data = hub.files.get(f"{repo_id}/{filename}")
        if data is None:
            return self._error(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": revision})
        self._serve(data, revision, body)


def hub_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Set huggingface_hub's environment and re-read its `constants`, as a new process would."""
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                "HF_HUB_VERBOSITY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.find_spec("huggingface_hub.constants")
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    for name, value in vars(fresh).items():
        if name.isupper():
            monkeypatch.setattr(constants, name, value)




class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers (a stuck proxy or server)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def stop(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


class LoopbackOrigin(_Server):
    """A static file server standing in for GitHub's `/OWNER/REPO/raw/COMMIT/PATH` URLs.

    `files` maps URL paths to bytes. `cut_at` truncates every GET body at that offset (the
    Content-Length still announces the whole file); `status` answers every request with it.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.cut_at: int | None = None
        self.status: int | None = None
        self.requests: list[str] = []
        super().__init__(_OriginHandler)


class _OriginHandler(_QuietHandler):
    owner: LoopbackOrigin

    def do_GET(self) -> None:
        origin = self.owner
        origin.requests.append(self.path)
        data = origin.files.get(self.path)
        status = origin.status or (200 if data is not None else 404)
        if status != 200:
            body = b"Not Found" if status == 404 else b"error"
            self.send_response(status)
            self._headers({"Content-Length": str(len(body)), "Connection": "close"})
            self.wfile.write(body)
            return
        start = int(re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "bytes=0-")).group(1))
        self.send_response(206 if start else 200)
        headers = {"Content-Length": str(len(data) - start), "Content-Type": "application/octet-stream",
                   "Connection": "close"}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._headers(headers)
        end = len(data) if origin.cut_at is None else max(start, origin.cut_at)
        self.wfile.write(data[start:end])
