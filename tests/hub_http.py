"""A huggingface_hub HTTP error as the Hub's client raises it (for tests that fake the Hub)."""

from __future__ import annotations


def http_error(
    cls: type[Exception], status: int, url: str = "https://huggingface.co/api"
) -> Exception:
    try:
        import httpx2 as httpx
    except ImportError:  # pragma: no cover - older huggingface_hub
        import httpx  # type: ignore[no-redef]
    request = httpx.Request("POST", url)
    return cls("refused", response=httpx.Response(status, request=request))
