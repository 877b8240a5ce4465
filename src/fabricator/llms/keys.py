"""Which API key goes to which server: a key only ever goes to the server it was named for."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from fabricator.errors import ConfigError

OPENAI_HOST = "api.openai.com"  # the only host OPENAI_API_KEY is sent to without being named


def is_openai(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") == OPENAI_HOST


def resolve_key(base_url: str, api_key: str | None, api_key_env: str | None) -> tuple[str | None, str]:
    """The key to send and where it came from; a key only goes to the server it was named for.

    An explicit ``api_key`` wins; else the variable ``api_key_env`` names (unset is an error: no
    quiet fallback to another key); else ``OPENAI_API_KEY``, but only for OpenAI's own host.
    """
    if api_key is not None:
        return api_key, "OPENAI_API_KEY or the api_key you passed"
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(
                f"environment variable {api_key_env} (the API key for {base_url}) is not set",
                hint=f"export {api_key_env}=... with the key of that server, or drop "
                "api_key_env if it needs no key",
            )
        return key, api_key_env
    if is_openai(base_url):
        return os.environ.get("OPENAI_API_KEY"), "OPENAI_API_KEY"
    return None, "the API key"
