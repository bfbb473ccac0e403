"""A local Hugging Face Hub-compatible HTTP endpoint for the hub tests (stdlib only: http.server in a thread).

It implements what `huggingface_hub` 2.4 and diffusers call to create a repo, commit files and download them:

    POST /api/repos/create                                  create_repo (409 when it exists)
    POST /api/validate-yaml                                 README metadata check before a commit
    GET  /api/whoami-v2                                     whoami
    POST /api/{type}s/{ns}/{name}/preupload/{rev}           upload modes: always "regular" (base64 in the commit)
    POST /api/{type}s/{ns}/{name}/commit/{rev}              the ndjson commit (header, file, deletedFile, …)
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]          model_info / repo_info (sha, siblings, cardData)
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]       list_repo_tree (recursive or not)
    GET|HEAD /[{type}s/]{ns}/{name}/resolve/{rev}/{path}    file download, with ETag, X-Repo-Commit, Content-Length

Errors carry the headers the client maps to its exceptions: a token it does not know gets 401 with
X-Error-Message "Invalid credentials in Authorization header" (as the Hub answers a revoked token); an unknown or
private-and-not-yours repo gets 404 X-Error-Code RepoNotFound; a missing revision RevisionNotFound; a missing file
EntryNotFound. Writes need a known token and the repo's namespace must be its user (else 403).

Every commit is a full snapshot folder under `root/<type>/<ns>/<name>/<commit sha>/`, so tests can read exactly
what a client uploaded (`files()`), and every request is logged (`requests`) so tests can check what was served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = ("model", "dataset", "space")
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def git_blob_oid(content: bytes) -> str:
    """The git blob sha1 of `content`: the oid the Hub reports for a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    owner: str
    private: bool
    sdk: str | None
    folder: Path
    commits: list[str] = field(default_factory=list)  # oldest first; the last one is `main`
    variables: dict[str, dict] = field(default_factory=dict)  # a Space's variables (its app's environment)
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))

    @property
    def head(self) -> str:
        return self.commits[-1]

    def snapshot(self, commit: str) -> Path:
        return self.folder / commit

    def files(self, commit: str) -> dict[str, Path]:
        root = self.snapshot(commit)
        return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


class HubError(Exception):
    """An HTTP error answer: status, a JSON {"error": message}, and the Hub's X-Error-* headers."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


class FakeHub:
    """The endpoint. `with FakeHub(tmp_path, tokens={"hf_x": "alice"}) as hub: hub.url …`.

    tokens: token → user name. files(repo_id, repo_type) → {path: bytes} at main. put(…) seeds a repo directly
    (e.g. one holding only pickle weights, which this project's own push would refuse to write)."""

    def __init__(self, root: str | Path, tokens: dict[str, str]):
        self.root = Path(root)
        self.tokens = dict(tokens)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            state = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the hub first"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # ---- test helpers ----------------------------------------------------------------------------------------
    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """{path: content} of the repo at main."""
        with self.lock:
            repo = self.repos[(repo_type, repo_id)]
            return {path: p.read_bytes() for path, p in repo.files(repo.head).items()}

    def put(self, repo_id: str, files: dict[str, bytes], repo_type: str = "model", private: bool = False) -> str:
        """Create the repo if needed and commit `files` directly; returns the commit sha."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self._create(
                repo_type, repo_id, repo_id.split("/")[0], private, None
            )
            return self._commit(repo, "seeded by the test", dict(files), set())

    # ---- storage ---------------------------------------------------------------------------------------------
    def _create(self, repo_type: str, repo_id: str, owner: str, private: bool, sdk: str | None) -> Repo:
        repo = Repo(repo_type, repo_id, owner, private, sdk, self.root / repo_type / repo_id)
        self.repos[(repo_type, repo_id)] = repo
        self._commit(repo, "initial commit", {".gitattributes": GITATTRIBUTES}, set())
        return repo

    def _commit(self, repo: Repo, summary: str, additions: dict[str, bytes], deletions: set[str]) -> str:
        oid = hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}:{summary}:{time.time_ns()}".encode()).hexdigest()
        target = repo.snapshot(oid)
        if repo.commits:
            shutil.copytree(repo.snapshot(repo.head), target)
        else:
            target.mkdir(parents=True)
        for path in deletions:
            victim = target / path
            if victim.is_dir():
                shutil.rmtree(victim)
            elif victim.exists():
                victim.unlink()
        for path, content in additions.items():
            dest = target / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
        repo.commits.append(oid)
        return oid


def _safe_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise HubError(400, f"invalid path in repo: {path!r}")
    return path


class _Handler(BaseHTTPRequestHandler):
    state: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the tests read `requests` instead
        pass

    # ---- plumbing --------------------------------------------------------------------------------------------
    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)
        with self.state.lock:
            self.state.requests.append((self.command, self.path, status))

    def _json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> str | None:
        """The user of the Bearer token; 401 for a token the Hub does not know."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        user = self.state.tokens.get(token)
        if user is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return user

    def _dispatch(self, head: bool = False) -> None:
        try:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            user = self._user()
            with self.state.lock:
                self._route(self.command, url.path, query, user, head)
        except HubError as error:
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            body = json.dumps({"error": error.message, **error.extra}).encode()
            self._send(error.status, body, headers=headers, head=head)

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch(head=True)

    def do_POST(self):
        self._dispatch()

    # ---- routing ---------------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, user: str | None, head: bool) -> None:
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(user)
        if method == "POST" and path == "/api/validate-yaml":
            self._body()
            return self._json(200, {"errors": [], "warnings": []})
        if method == "GET" and path == "/api/whoami-v2":
            if user is None:
                raise HubError(401, "Unauthorized")
            return self._json(200, {"type": "user", "name": user, "auth": {"type": "access_token"}})
        match = re.fullmatch(r"/api/(model|dataset|space)s/([^/]+/[^/]+)(?:/(.*))?", path)
        if match:
            repo_type, repo_id, rest = match.group(1), unquote(match.group(2)), match.group(3) or ""
            return self._api(method, repo_type, repo_id, rest, query, user)
        match = re.fullmatch(r"/(?:(dataset|space)s/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match and method in ("GET", "HEAD"):
            repo_type = match.group(1) or "model"
            repo = self._repo(repo_type, unquote(match.group(2)), user)
            commit = self._revision(repo, unquote(match.group(3)))
            return self._resolve(repo, commit, unquote(match.group(4)), head)
        raise HubError(501, f"not implemented by the test hub: {method} {path}")

    def _repo(self, repo_type: str, repo_id: str, user: str | None, write: bool = False) -> Repo:
        repo = self.state.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if write:
            if user is None:
                raise HubError(401, "You must be authenticated to write to a repo")
            if user != repo.owner:
                raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _revision(self, repo: Repo, revision: str) -> str:
        if revision == "main":
            return repo.head
        if revision in repo.commits:
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def _create_repo(self, user: str | None) -> None:
        payload = json.loads(self._body() or b"{}")
        if user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        name, namespace = payload.get("name"), payload.get("organization") or user
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES or not isinstance(name, str) or not NAME_RE.match(name):
            raise HubError(400, f"invalid repo type or name: {repo_type!r} {name!r}")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a {repo_type} under the namespace {namespace}")
        if repo_type == "space" and payload.get("sdk") not in ("gradio", "docker", "static", "streamlit"):
            raise HubError(400, "a Space needs an sdk")
        repo_id = f"{namespace}/{name}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"http://{self.headers.get('Host')}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.state.repos:
            raise HubError(409, f"You already created this {repo_type} repo", url=url)  # the client reads "url"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        self.state._create(repo_type, repo_id, user, private, payload.get("sdk"))
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _api(self, method: str, repo_type: str, repo_id: str, rest: str, query: dict, user: str | None) -> None:
        if method == "POST" and rest.startswith("preupload/"):
            repo = self._repo(repo_type, repo_id, user, write=True)
            commit = self._revision(repo, unquote(rest.removeprefix("preupload/")))
            existing = repo.files(commit)
            files = []
            for item in json.loads(self._body())["files"]:
                path = _safe_path(item["path"])
                oid = git_blob_oid(existing[path].read_bytes()) if path in existing else None
                files.append({"path": path, "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
            return self._json(200, {"files": files, "commitOid": commit})
        if repo_type == "space" and rest == "variables":  # HfApi.add_space_variable / get_space_variables
            repo = self._repo(repo_type, repo_id, user, write=method == "POST")
            if method == "POST":
                item = json.loads(self._body())
                repo.variables[item["key"]] = {"value": item["value"], "description": item.get("description")}
            return self._json(200, repo.variables)
        if method == "POST" and rest.startswith("commit/"):
            repo = self._repo(repo_type, repo_id, user, write=True)
            self._revision(repo, unquote(rest.removeprefix("commit/")))
            if query.get("create_pr"):
                raise HubError(400, "pull requests are not supported by the test hub")
            return self._commit(repo)
        if method != "GET":
            raise HubError(405, f"{method} not supported here")
        repo = self._repo(repo_type, repo_id, user)
        if rest == "" or rest.startswith("revision/"):
            commit = self._revision(repo, unquote(rest.removeprefix("revision/")) or "main")
            return self._json(200, self._info(repo, commit, blobs=query.get("blobs") in ("true", "True", "1")))
        if rest.startswith("tree/"):
            revision, _, sub = rest.removeprefix("tree/").partition("/")
            commit = self._revision(repo, unquote(revision))
            return self._tree(repo, commit, unquote(sub).strip("/"), query.get("recursive") in ("true", "True", "1"))
        raise HubError(501, f"not implemented by the test hub: {method} {rest}")

    def _commit(self, repo: Repo) -> None:
        summary, additions, deletions = "", {}, set()
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", "")
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
                additions[_safe_path(value["path"])] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deletions.add(_safe_path(value["path"].rstrip("/")))
            else:  # lfsFile / copies: this hub only ever asks for regular uploads
                raise HubError(400, f"unsupported commit operation {key!r}")
        oid = self.state._commit(repo, summary, additions, deletions)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._json(
            200,
            {
                "success": True,
                "commitOid": oid,
                "pullRequestUrl": None,
                "commitUrl": f"http://{self.headers.get('Host')}/{prefix}{repo.repo_id}/commit/{oid}",
            },
        )

    def _info(self, repo: Repo, commit: str, blobs: bool) -> dict:
        files = repo.files(commit)
        card_data = None
        if "README.md" in files:
            text = files["README.md"].read_text(encoding="utf-8", errors="replace")
            match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
            if match:
                import yaml

                try:
                    card_data = yaml.safe_load(match.group(1))
                except yaml.YAMLError:
                    card_data = None
        card_data = card_data if isinstance(card_data, dict) else None
        siblings = []
        for path, p in files.items():
            entry = {"rfilename": path}
            if blobs:
                content = p.read_bytes()
                entry.update(size=len(content), blobId=git_blob_oid(content))
            siblings.append(entry)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.owner,
            "sha": commit,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "createdAt": repo.created_at,
            "lastModified": repo.created_at,
            "likes": 0,
            "downloads": 0,
            "siblings": siblings,
            "tags": list((card_data or {}).get("tags") or []),
        }
        if repo.repo_type == "model":
            info.update(
                cardData=card_data,
                pipeline_tag=(card_data or {}).get("pipeline_tag"),
                library_name=(card_data or {}).get("library_name"),
            )
        elif repo.repo_type == "space":
            info.update(cardData=card_data, sdk=repo.sdk, runtime={"stage": "BUILDING", "hardware": None})
        return info

    def _tree(self, repo: Repo, commit: str, sub: str, recursive: bool) -> None:
        files = repo.files(commit)
        prefix = f"{sub}/" if sub else ""
        if sub and not any(path.startswith(prefix) for path in files):
            raise HubError(404, f"{sub} does not exist", "EntryNotFound")
        entries, folders = [], set()
        for path, p in files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if folder not in folders and (recursive or depth == 1):
                    folders.add(folder)
                    entries.append(
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                            "path": folder,
                        }
                    )
            if recursive or len(parts) == 1:
                content = p.read_bytes()
                entries.append({"type": "file", "oid": git_blob_oid(content), "size": len(content), "path": path})
        self._json(200, entries)

    def _resolve(self, repo: Repo, commit: str, path: str, head: bool) -> None:
        files = repo.files(commit)
        if path not in files:
            raise HubError(404, "Entry not found", "EntryNotFound")
        content = files[path].read_bytes()
        headers = {"ETag": f'"{git_blob_oid(content)}"', "X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        status, body = 200, content
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:  # resumed downloads
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(content) - 1
            status, body = 206, content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{min(end, len(content) - 1)}/{len(content)}"
        self._send(status, body, content_type="application/octet-stream", headers=headers, head=head)


if __name__ == "__main__":  # manual use: python tests/helpers/hub_server.py ROOT TOKEN=USER …
    import sys

    hub = FakeHub(sys.argv[1], dict(arg.split("=", 1) for arg in sys.argv[2:])).start()
    print(hub.url, flush=True)
    try:
        hub.thread.join()
    except KeyboardInterrupt:
        hub.stop()
