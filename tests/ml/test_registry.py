"""The registry: package weights, split packages joined once, and downloads tested against a local server."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from ml.errors import ModelError
from ml.loader import ModelCache
from ml.models.demucs import Demucs
from ml.registry import ModelVersion, Registry, Source
from testkit.checkpoints import published_layout


class FileServer:
    """A local HTTP server: path (without the query) → (body, headers); counts the GET requests it answered."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                self.answer(body=True)

            def do_HEAD(self) -> None:  # the hub client asks for a file's metadata first
                self.answer(body=False)

            def answer(self, *, body: bool) -> None:
                path = urlsplit(self.path).path
                if path not in server.files:
                    self.send_error(404)
                    return
                content, headers = server.files[path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    yield srv
    srv.close()


def _published_checkpoint(tmp_path: Path) -> bytes:
    state = {k: torch.randn(shape) * 0.01 for k, shape in published_layout(48).items()}
    path = tmp_path / "dns48.th"
    torch.save(state, path)
    return path.read_bytes()


def test_url_version_downloads_checks_sha256_and_loads(server: FileServer, tmp_path: Path) -> None:
    body = _published_checkpoint(tmp_path)
    digest = hashlib.sha256(body).hexdigest()
    server.files["/denoiser/dns48-test.th"] = (body, {})
    version = ModelVersion(
        "demucs-test",
        "denoiser",
        Source("url", server.url + "/denoiser/dns48-test.th", sha256=digest[:16]),
        arch="demucs",
        config={"hidden": 48},
    )
    registry = Registry(cache_dir=tmp_path / "cache", extra=(version,))
    denoiser = ModelCache(registry).denoiser("demucs-test")
    assert isinstance(denoiser.model, Demucs)
    # a second resolve finds the cached, verified file and does not download again
    registry.resolve(version)
    assert server.hits == ["/denoiser/dns48-test.th"]


def test_checksum_mismatch_leaves_nothing_behind(server: FileServer, tmp_path: Path) -> None:
    server.files["/bad.th"] = (b"tampered", {})
    version = ModelVersion("bad", "denoiser", Source("url", server.url + "/bad.th", sha256="00" * 32))
    registry = Registry(cache_dir=tmp_path / "cache", extra=(version,))
    with pytest.raises(ModelError, match="checksum mismatch"):
        registry.resolve(version)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_unreachable_url_is_a_model_error(tmp_path: Path) -> None:
    version = ModelVersion("gone", "denoiser", Source("url", "http://127.0.0.1:9/gone.th"))
    with pytest.raises(ModelError, match="cannot download"):
        Registry(cache_dir=tmp_path, extra=(version,)).resolve(version)


def serve_hub_repo(server: FileServer, repo: str, files: dict[str, bytes], *, lfs_sha256: dict[str, str]) -> None:
    """What the Hugging Face hub answers for ``repo`` at one revision: its info, its file tree (git blob ids,
    and the sha256 of LFS files, here as given) and its files."""
    revision = hashlib.sha1(repo.encode()).hexdigest()
    info = {"id": repo, "sha": revision, "siblings": [{"rfilename": n} for n in files]}
    server.files[f"/api/models/{repo}/revision/main"] = (json.dumps(info).encode(), {})
    tree = []
    for name, body in files.items():
        blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
        entry: dict[str, object] = {"type": "file", "path": name, "size": len(body), "oid": blob}
        headers = {"X-Repo-Commit": revision, "ETag": f'"{blob}"'}
        if name in lfs_sha256:
            entry["lfs"] = {"oid": lfs_sha256[name], "size": len(body), "pointerSize": 134}
            headers["X-Linked-Etag"] = f'"{lfs_sha256[name]}"'
        tree.append(entry)
        server.files[f"/{repo}/resolve/{revision}/{name}"] = (body, headers)
    server.files[f"/api/models/{repo}/tree/{revision}"] = (json.dumps(tree).encode(), {})


def test_hub_snapshot_through_hf_endpoint(server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub path of `small` etc.: the needed files of the repository, checked against the hub's hashes."""
    files = {
        "config.json": b"{}",
        "model.bin": b"weights" * 1000,
        "tokenizer.json": b"{}",
        "vocabulary.txt": b"a",
    }
    repo = "Systran/faster-whisper-small"
    serve_hub_repo(
        server,
        repo,
        {**files, "README.md": b"# small"},
        lfs_sha256={"model.bin": hashlib.sha256(files["model.bin"]).hexdigest()},
    )
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    registry = Registry(cache_dir=tmp_path)
    path = registry.resolve(registry.get("whisper", "small"))
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) == sorted(files)
    assert (path / "model.bin").read_bytes() == files["model.bin"]
    assert not any("README" in hit for hit in server.hits)
    hits = len(server.hits)
    assert registry.resolve(registry.get("whisper", "small")) == path and len(server.hits) == hits  # cached


def test_hub_file_with_wrong_checksum_is_rejected(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = "Systran/faster-whisper-medium"
    serve_hub_repo(server, repo, {"model.bin": b"corrupt"}, lfs_sha256={"model.bin": "ab" * 32})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    registry = Registry(cache_dir=tmp_path)
    with pytest.raises(ModelError, match="checksum"):
        registry.resolve(registry.get("whisper", "medium"))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_unreachable_hub_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    registry = Registry(cache_dir=tmp_path)
    with pytest.raises(ModelError, match="cannot download"):
        registry.resolve(registry.get("whisper", "small"))


def test_split_package_is_joined_once(tmp_path: Path) -> None:
    registry = Registry(cache_dir=tmp_path)
    version = registry.get("whisper", "base")
    path = registry.resolve(version)
    parts = [registry_part for registry_part in version.source.parts]
    from ml.registry import _package_dir

    expected = sum(_package_dir(p).stat().st_size for p in parts)
    model = path / "model.bin"
    assert model.stat().st_size == expected
    assert (path / "config.json").exists() and (path / "tokenizer.json").exists()
    first = model.stat().st_mtime_ns
    registry.resolve(version)
    assert model.stat().st_mtime_ns == first


def test_a_joined_copy_serves_without_its_packages(tmp_path: Path) -> None:
    """The worker image joins Whisper base at build time, then removes the two packages of parts."""
    source = Source("split_package", "gone_whisper_2/data", parts=("gone_whisper_1/m.part1", "gone_whisper_2/m.part2"))
    version = ModelVersion("gone", "whisper", source)
    registry = Registry(cache_dir=tmp_path, extra=(version,))
    with pytest.raises(ModelError, match="'gone_whisper_1' is not installed"):
        registry.resolve(version)
    missing = "needs the weights packages gone-whisper-1, gone-whisper-2, not installed here"
    assert registry.unavailable(version) == missing
    joined = tmp_path / "whisper" / "gone"
    joined.mkdir(parents=True)
    (joined / "model.bin").write_bytes(b"weights")
    assert registry.resolve(version) == joined and registry.unavailable(version) is None


def test_unknown_version_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        Registry(cache_dir=tmp_path).get("whisper", "gigantic")
    assert "tiny.en" in str(info.value) and "base" in str(info.value)


def test_exported_checkpoints_register_themselves(tmp_path: Path) -> None:
    from ml.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "mine.pt", Demucs(hidden=8), arch="demucs", extra={"version": "demucs-mine"})
    registry = Registry(cache_dir=tmp_path / "cache", weights_dirs=(tmp_path,))
    assert "demucs-mine" in registry.names("denoiser")
    denoiser = ModelCache(registry).denoiser("demucs-mine")
    assert denoiser.version == "demucs-mine"


def test_each_version_knows_what_runs_it(tmp_path: Path) -> None:
    """The default path needs no torch: only the torch networks (by architecture or as a checkpoint) do."""
    registry = Registry(cache_dir=tmp_path)
    engines = {v.name: v.engine for v in (*registry.versions("denoiser"), *registry.versions("whisper"))}
    assert engines["none"] == "none" and engines["rnnoise"] == "rnnoise"
    assert engines["deepfilternet3"] == engines["deepfilternet3-vn1"] == "onnxruntime"
    assert engines["gatewave-v1"] == engines["demucs-dns48"] == "torch"
    assert engines["base"] == engines["large-v3"] == "ctranslate2"
    needing = {v.name for v in registry.versions("denoiser") if v.needs_torch}
    assert needing == {"gatewave-v1", "demucs-dns48", "demucs-dns64", "demucs-master64"}
    archive = tmp_path / "mine.tar.gz"
    archive.touch()
    checkpoint = tmp_path / "mine.pt"
    checkpoint.touch()
    assert registry.get("denoiser", str(archive)).engine == "onnxruntime"
    assert registry.get("denoiser", str(checkpoint)).needs_torch
    assert registry.get("denoiser", "gatewave-v1").describe()["needs_torch"] is True


def test_without_torch_a_torch_version_is_unavailable_and_fails_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml import registry as registry_module
    from ml.registry import NEEDS_TORCH

    registry = Registry(cache_dir=tmp_path)
    gatewave, default = registry.get("denoiser", "gatewave-v1"), registry.get("denoiser", "deepfilternet3-vn1")
    assert registry.unavailable(gatewave) is None  # torch is installed here
    monkeypatch.setattr(registry_module, "torch_installed", lambda: False)
    assert registry.unavailable(gatewave) == NEEDS_TORCH and registry.unavailable(default) is None
    with pytest.raises(ModelError, match=r"gatewave-v1 needs torch.*voicebot\[ml,torch\].*TORCH=1"):
        ModelCache(registry, threads=1).denoiser("gatewave-v1")
