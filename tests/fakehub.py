"""A patched ``huggingface_hub.HfApi`` for the push tests (the ``hub`` fixture in conftest): it
records each call and keeps a copy of every uploaded file; no network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

SHA = "fedcba9876543210fedcba9876543210fedcba98"


class FakeHub:
    """Records what push_to_hub asks of ``HfApi`` and keeps a copy of every uploaded file."""

    def __init__(self, tmp: Path) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploaded = tmp / "uploaded"
        self.tokens: list[object] = []
        self.fail: dict[str, BaseException] = {}
        self.private: dict[str, bool] = {}  # the repos on this Hub and whether each is private

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import huggingface_hub

        hub = self
        real_init = huggingface_hub.HfApi.__init__

        def init(api: Any, *args: Any, **kwargs: Any) -> None:
            hub.tokens.append(kwargs.get("token"))
            real_init(api, *args, **kwargs)

        def method(name: str):
            def call(api: Any, *args: Any, **kwargs: Any) -> Any:
                hub.calls.append((name, {"args": args, **kwargs}))
                if name in hub.fail:
                    raise hub.fail[name]
                if name == "upload_folder":
                    self.uploaded.mkdir()
                    patterns = kwargs["allow_patterns"]
                    for f in Path(kwargs["folder_path"]).iterdir():
                        if f.name in patterns:
                            (self.uploaded / f.name).write_bytes(f.read_bytes())
                    return SimpleNamespace(oid=SHA, pr_url=None)
                repo = args[0] if args else kwargs.get("repo_id")
                if name == "create_repo":  # exist_ok: an existing repo keeps its visibility
                    hub.private.setdefault(repo, bool(kwargs.get("private")))
                if name == "repo_info":
                    return SimpleNamespace(id=repo, private=hub.private[repo])
                return SimpleNamespace(repo_id=repo)

            return call

        monkeypatch.setattr(huggingface_hub.HfApi, "__init__", init)
        for name in ("create_repo", "repo_info", "create_branch", "upload_folder"):
            monkeypatch.setattr(huggingface_hub.HfApi, name, method(name))

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]
