"""The Hugging Face Hub as bars-zoo talks to it: names, downloads and errors.

* Names: ``hf-hub:ORG/REPO[@REV]`` (:func:`parse_hub_name`), repo ids (:func:`valid_repo_id`) and
  revisions (:func:`check_revision`: git's ref-name rules), all checked before any request.
* Downloads: :func:`hub_folder` gives the cached snapshot of a repo at a revision, from the cache
  first when the revision is a commit or when offline (:func:`offline_mode`: ``local_files_only``,
  else ``HF_HUB_OFFLINE``), else from the Hub.
* Errors: :func:`hub_errors` turns huggingface_hub exceptions into :mod:`bars_zoo.errors` types,
  the cause chained, for downloads and uploads alike.

``huggingface_hub`` is imported inside the functions, when the Hub is first needed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bars_zoo import registry
from bars_zoo.errors import (
    ConfigError,
    HubError,
    OfflineError,
    RepoNotFoundError,
    RevisionNotFoundError,
)
from bars_zoo.folder import FOLDER_FILES
from bars_zoo.registry import CARD_FILE

HUB_PREFIX = "hf-hub:"


def parse_hub_name(name: str, revision: str | None) -> tuple[str, str | None]:
    """``hf-hub:org/repo@rev`` -> ``("org/repo", "rev")`` (``revision`` may also give the rev)."""
    body = name[len(HUB_PREFIX) :]
    repo, at, rev = body.partition("@")
    if at and not rev:
        raise ConfigError(
            f"{name!r} ends in '@' without a revision",
            hint="write hf-hub:ORG/REPO@REV (a branch, tag or commit), or leave '@' out for main",
        )
    if not valid_repo_id(repo):
        raise ConfigError(
            f"{name!r} is not a Hub model name", hint="write hf-hub:ORG/REPO or hf-hub:ORG/REPO@REV"
        )
    if rev and revision and rev != revision:
        raise ConfigError(f"{name!r} names revision {rev!r} but revision={revision!r} was given")
    check_revision(rev or revision or None)
    return repo, (rev or revision or None)


def valid_repo_id(repo: str) -> bool:
    """Whether ``repo`` is a Hub repo id of the form ``ORG/NAME`` that the Hub accepts."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if repo.count("/") != 1 or not all(repo.split("/")):
        return False
    try:
        validate_repo_id(repo)
    except HFValidationError:
        return False
    return True


# anywhere in a git ref name: control characters, space, ~ ^ : ? * [ and backslash, "..", "@{"
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")


def valid_revision(revision: str) -> bool:
    """Whether ``revision`` can name a git (Hub) branch, tag or commit: the ref-name rules of
    ``git check-ref-format --branch``, which a sha, ``main``, a tag or ``refs/pr/1`` all pass.
    No forbidden character (above); not ``@``, not starting with ``-``, not ending with ``.``;
    and every ``/``-separated component non-empty, not starting with ``.`` and not ending with
    ``.lock`` (``a.lock/b`` as much as ``dev.lock``)."""
    if not revision or revision == "@" or revision[0] == "-" or revision[-1] == ".":
        return False
    if _BAD_REF_CHARS.search(revision):
        return False
    return all(
        part and part[0] != "." and not part.endswith(".lock") for part in revision.split("/")
    )


def check_revision(revision: str | None) -> None:
    """Refuse a ``revision`` that no Hub (git) branch, tag or commit can be called
    (:func:`valid_revision`), before any network call."""
    if revision is not None and not valid_revision(revision):
        raise ConfigError(
            f"{revision!r} is not a revision name",
            hint="give a branch, tag or commit sha: no spaces, control characters, '..', "
            "'~^:?*[\\', '@{' or '//'; no leading '-' or '/', no trailing '/' or '.'; no part "
            "(between '/') that starts with '.' or ends with '.lock'",
        )


def offline_mode(local_files_only: bool | None) -> bool:
    """Whether network access is forbidden: ``local_files_only`` when given, else the
    ``HF_HUB_OFFLINE`` environment variable (or huggingface_hub's setting)."""
    if local_files_only is not None:
        return local_files_only
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if env:
        return env in ("1", "ON", "YES", "TRUE")
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_folder(
    repo: str,
    revision: str | None,
    cache_dir: Any,
    offline: bool,
    files: tuple[str, ...] = FOLDER_FILES,
) -> Path:
    """The cached snapshot of ``repo`` at ``revision``: from the cache first when the revision is
    a commit (or when offline), else from the Hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    kw: dict[str, Any] = {
        "revision": revision,
        "cache_dir": cache_dir,
        "allow_patterns": list(files),
        "library_name": "bars-zoo",
    }
    with hub_errors(repo, revision, local_files_only=offline):
        if offline or (revision is not None and registry.COMMIT_RE.match(revision)):
            try:
                path = Path(snapshot_download(repo, local_files_only=True, **kw))
                if all((path / f).is_file() for f in files if f != CARD_FILE):
                    return path
            except LocalEntryNotFoundError:
                if offline:
                    raise
            if offline:
                raise LocalEntryNotFoundError(f"the cached snapshot of {repo} is incomplete")
            assert revision is not None  # a commit: not offline
            _reachable(repo, revision)
        path = Path(snapshot_download(repo, local_files_only=False, **kw))
    missing = [f for f in files if f != CARD_FILE and not (path / f).is_file()]
    if missing:  # huggingface_hub falls back to a partial cached snapshot when the Hub is down
        where = f"{repo}@{revision}" if revision else repo
        raise HubError(
            f"the snapshot of {where} has no {', '.join(missing)}: the Hub could not be reached "
            "and the cached snapshot is incomplete, or the repo lacks the file",
            hint=f"check the network and run `bars-zoo pull hf-hub:{where}` again; a model repo "
            f"holds {', '.join(FOLDER_FILES)} (bars-zoo push writes them)",
        )
    return path


def _reachable(repo: str, commit: str) -> None:
    """Ask the Hub once about ``repo`` at ``commit`` before downloading it: a download at a commit
    lists the repo's files with retries and backs off for about 25 s when the Hub cannot be
    reached; this one request fails at once (and names a missing repo or commit)."""
    from huggingface_hub import HfApi
    from huggingface_hub import errors as he

    try:
        HfApi(library_name="bars-zoo").repo_info(repo, revision=commit)
    except he.HfHubHTTPError:  # the Hub answered (no such repo or commit ...): hub_errors says so
        raise
    except _transport_errors() as e:
        raise _not_cached(f"{repo}@{commit}") from e


def _transport_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub import errors as he

    return (getattr(he, "HTTPError", ConnectionError), ConnectionError, TimeoutError)


@contextmanager
def hub_errors(
    repo: str, revision: str | None, *, upload: bool = False, local_files_only: bool = False
) -> Iterator[None]:
    """Turn huggingface_hub exceptions into bars-zoo errors (the cause is kept); ``upload``: the
    request was a push, so "not in the cache" is not the story."""
    from huggingface_hub import errors as he

    where = f"{repo}@{revision}" if revision else repo
    try:
        yield
    except he.OfflineModeIsEnabled as e:
        if not upload:
            raise _not_cached(where) from e
        raise OfflineError(
            f"cannot push {where}: offline mode is on (HF_HUB_OFFLINE)",
            hint="unset HF_HUB_OFFLINE and connect; nothing was uploaded",
        ) from e
    except he.RevisionNotFoundError as e:
        raise RevisionNotFoundError(
            f"the Hub repo {repo} has no revision {revision!r}",
            hint="check the branch, tag or commit sha (leave @rev out for main)",
        ) from e
    except he.RepositoryNotFoundError as e:
        raise RepoNotFoundError(
            f"no Hub repo {repo!r} (or it is private or gated)",
            hint="check the name; for a private repo log in (`hf auth login`) or set HF_TOKEN",
        ) from e
    except he.LocalEntryNotFoundError as e:
        detail = str(e) if "incomplete" in str(e) else None
        raise _not_cached(where, detail, local_files_only) from e
    except he.EntryNotFoundError as e:
        raise HubError(
            f"{where} lacks a file of the bars-zoo layout: {e}",
            hint=f"a model repo holds {', '.join(FOLDER_FILES)} (bars-zoo push writes them)",
        ) from e
    except he.HfHubHTTPError as e:
        raise HubError(f"the Hub refused a request for {where}: {e}") from e
    except _transport_errors() as e:
        raise OfflineError(
            f"cannot reach the Hugging Face Hub for {where}: {e}",
            hint="check the network; nothing was uploaded"
            if upload
            else "check the network, or set HF_HUB_OFFLINE=1 to use cached files only",
        ) from e
    except he.HFValidationError as e:
        raise ConfigError(f"{where!r} is not a Hub repo id: {e}", hint="write ORG/NAME") from e


def _not_cached(
    where: str, detail: str | None = None, local_files_only: bool = False
) -> OfflineError:
    """A download that found neither the cache nor the Hub: say which of the two was ruled out."""
    if offline_mode(None):
        why = "offline mode is on (HF_HUB_OFFLINE)"
        first = (
            "unset HF_HUB_OFFLINE (or local_files_only) and connect, then run "
            f"`bars-zoo pull hf-hub:{where}`"
        )
    elif local_files_only:
        why = "local_files_only=True forbids asking the Hub"
        first = "leave local_files_only out (or False) to download it"
    else:
        why = "the Hub could not be reached"
        first = f"check the network and run `bars-zoo pull hf-hub:{where}`"
    return OfflineError(
        f"{detail or f'{where} is not in the Hugging Face cache'}, and {why}",
        hint=f"{first}; or copy the model folder here and load it as local-dir:PATH",
    )


__all__ = [
    "HUB_PREFIX",
    "check_revision",
    "hub_errors",
    "hub_folder",
    "offline_mode",
    "parse_hub_name",
    "valid_repo_id",
    "valid_revision",
]
