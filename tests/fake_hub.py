"""A small Hugging Face hub on 127.0.0.1 for download tests.

It serves the endpoints huggingface_hub really calls for ``snapshot_download``:
``GET /api/models/{repo}/revision/{rev}`` (repo info), ``GET /api/models/{repo}/tree/{rev}``
(recursive file list with sizes and LFS info) and ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``
(with ``X-Repo-Commit``, ETags and ``Range``). It can gate a repo (401 without a token,
403 with one that has no access), answer 404, require a token, lie about a file's size,
and drop a connection halfway through a file. Every request is logged.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".model", ".ckpt", ".pt")


@dataclass
class FakeRepo:
    files: dict[str, bytes]
    commit: str
    gated: bool = False
    private: bool = False
    listed_sizes: dict[str, int] = field(default_factory=dict)  # lie about sizes in the tree


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


def repo_from_folder(folder: Path, commit: str, **options: object) -> FakeRepo:
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    return FakeRepo(files=files, commit=commit, **options)  # type: ignore[arg-type]


class FakeHub:
    def __init__(self, tokens: tuple[str, ...] = ("hf_test_token_with_access",)) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.tokens = set(tokens)
        self.requests: list[Request] = []
        self.drop_halfway: dict[str, int] = {}  # "repo_id/path" → times to drop it mid-body
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file_gets(self) -> list[str]:
        """Paths of file bodies requested (GET on resolve URLs), in order."""
        return [
            r.path.split("/resolve/", 1)[1].split("/", 1)[1]
            for r in self.requests
            if r.method == "GET" and "/resolve/" in r.path
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                return None

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                with hub._lock:
                    hub.requests.append(
                        Request(
                            self.command,
                            path,
                            self.headers.get("Range"),
                            self.headers.get("Authorization"),
                        )
                    )
                if path.startswith("/api/models/"):
                    self._api(path.removeprefix("/api/models/"), body)
                elif "/resolve/" in path:
                    self._resolve(path.lstrip("/"), body)
                else:
                    self._error(404, "EntryNotFound", "no such endpoint", body)

            def _token(self) -> str | None:
                header = self.headers.get("Authorization") or ""
                return header.removeprefix("Bearer ") or None

            def _repo(self, repo_id: str, body: bool) -> FakeRepo | None:
                repo = hub.repos.get(repo_id)
                if repo is None or (repo.private and self._token() not in hub.tokens):
                    self._error(
                        401 if self._token() is None else 404,
                        "RepoNotFound",
                        "Repository not found",
                        body,
                    )
                    return None
                return repo

            def _api(self, rest: str, body: bool) -> None:
                owner, name, kind, *tail = rest.split("/")
                repo_id = f"{owner}/{name}"
                repo = self._repo(repo_id, body)
                if repo is None:
                    return
                if tail and tail[0] not in ("main", repo.commit):
                    self._error(404, "RevisionNotFound", "Invalid rev id", body)
                    return
                if kind == "revision":
                    info = {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo.commit,
                        "private": repo.private,
                        "gated": "manual" if repo.gated else False,
                        "siblings": [{"rfilename": p} for p in repo.files],
                    }
                    self._json(info, body)
                elif kind == "tree":
                    self._json(self._tree(repo), body)
                else:
                    self._error(404, "EntryNotFound", "no such endpoint", body)

            def _tree(self, repo: FakeRepo) -> list[dict[str, object]]:
                entries: list[dict[str, object]] = []
                folders = sorted({str(Path(p).parent) for p in repo.files} - {"."})
                for folder in folders:
                    entries.append(
                        {"type": "directory", "oid": "0" * 40, "size": 0, "path": folder}
                    )
                for path, data in repo.files.items():
                    size = repo.listed_sizes.get(path, len(data))
                    entry: dict[str, object] = {
                        "type": "file",
                        "oid": _git_oid(data),
                        "size": size,
                        "path": path,
                    }
                    if path.endswith(LFS_SUFFIXES):
                        entry["lfs"] = {
                            "oid": hashlib.sha256(data).hexdigest(),
                            "size": size,
                            "pointerSize": 134,
                        }
                    entries.append(entry)
                return entries

            def _resolve(self, rest: str, body: bool) -> None:
                before, after = rest.split("/resolve/", 1)
                revision, _, file_path = after.partition("/")
                repo = self._repo(before, body)
                if repo is None:
                    return
                if revision not in ("main", repo.commit):
                    self._error(404, "RevisionNotFound", "Invalid rev id", body)
                    return
                if repo.gated and self._token() not in hub.tokens:
                    status = 401 if self._token() is None else 403
                    self._error(
                        status, "GatedRepo", f"Access to model {before} is restricted", body
                    )
                    return
                data = repo.files.get(file_path)
                if data is None:
                    self._error(404, "EntryNotFound", f"{file_path} does not exist", body)
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted and wanted.startswith("bytes="):
                    start = int(wanted.removeprefix("bytes=").split("-")[0] or 0)
                chunk = data[start:]
                self.send_response(206 if start else 200)
                lfs = file_path.endswith(LFS_SUFFIXES)
                etag = hashlib.sha256(data).hexdigest() if lfs else _git_oid(data)
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", f'"{etag}"')
                if lfs:
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if not body:
                    return
                key = f"{before}/{file_path}"
                if hub.drop_halfway.get(key, 0) > 0:
                    hub.drop_halfway[key] -= 1
                    half = chunk[: len(chunk) // 2]
                    self.wfile.write(half)
                    self.wfile.flush()
                    hub.bytes_sent += len(half)
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(chunk)
                hub.bytes_sent += len(chunk)

            def _json(self, payload: object, body: bool) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str, body: bool) -> None:
                data = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
