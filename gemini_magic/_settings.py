"""Effective settings for one call: cell option > ``%config`` > environment > default.

Kept apart from the magic so precedence is a pure function of (options, configuration,
environment) and can be tested without a shell. The API key is read here at call time and only
travels inside :class:`Settings` (whose repr masks it): it is never stored on the magic, in the
response, or in any output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError

from ._options import MAX_TIMEOUT, Options, base_url_problem

__all__ = [
    "COMETAPI_BASE_URL",
    "DEFAULTS",
    "GOOGLE_BASE_URL",
    "KEY_ENV_VARS",
    "Settings",
    "no_key_error",
    "resolve_settings",
]

GOOGLE_BASE_URL = "https://generativelanguage.googleapis.com"
COMETAPI_BASE_URL = "https://api.cometapi.com"
KEY_ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "COMETAPI_KEY")

#: Every configurable setting's default, written once: the magic's traitlets and this module read it.
DEFAULTS: dict[str, Any] = {
    "model": "gemini-3-flash-preview",
    "speech_model": "gemini-2.5-flash-preview-tts",  # --speech needs a TTS model; others refuse AUDIO
    "base_url": GOOGLE_BASE_URL,
    "api_key_env": "",
    "auth": "key",
    "timeout": 120.0,
    "max_retries": 3,
    "max_response_mb": 256,  # a whole response; one image with its signature is ~8 MB
    "cache": False,
    "cache_dir": ".gemini-cache",
    "max_tool_rounds": 5,
    "remote_images": False,
    "log": True,  # every exchange appended to a SQLite log, as llm does
    "log_path": "",  # "" = gemini-magic/log.db in the user's data folder
    "max_history_turns": 0,  # turns of a --chat sent with each call; 0 = all of them
}


@dataclass(frozen=True)
class Settings:
    """Where to send a request and how; ``sources`` says where each value came from."""

    model: str
    base_url: str
    auth: str
    timeout: float
    max_retries: int
    api_key: str = field(repr=False)
    max_response_bytes: int = DEFAULTS["max_response_mb"] << 20
    cache: bool = False
    cache_dir: str = DEFAULTS["cache_dir"]
    max_tool_rounds: int = DEFAULTS["max_tool_rounds"]
    remote_images: bool = False
    log: bool = True
    log_path: str = ""
    max_history_turns: int = 0
    key_source: str = ""
    key_vars: tuple[str, ...] = KEY_ENV_VARS
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return (
            f"Settings(model={self.model!r}, base_url={self.base_url!r}, auth={self.auth!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r}, api_key={self.masked_key()})"
        )

    def masked_key(self) -> str:
        """What outputs may say about the key: that it is set, its length and origin — never its text."""
        if not self.api_key:
            return "<not set>"
        return f"<set: {len(self.api_key)} characters from {self.key_source}>"

    def auth_header(self) -> str:
        """The header that carries the key: ``x-goog-api-key`` (Google) or ``Authorization`` (bearer)."""
        return "Authorization" if self.auth == "bearer" else "x-goog-api-key"

    def headers(self) -> dict[str, str]:
        """Auth headers; the key never goes in the URL (it would end up in logs and errors)."""
        if not self.api_key:
            return {}
        value = f"Bearer {self.api_key}" if self.auth == "bearer" else self.api_key
        return {self.auth_header(): value}


def no_key_error(key_vars: tuple[str, ...] = KEY_ENV_VARS) -> UsageError:
    """The one-line error for a call that needs a key and has none, naming where we looked."""
    return UsageError(
        "No API key: set one of "
        + ", ".join(key_vars)
        + " (e.g. %env GEMINI_API_KEY=…, or get a key at https://aistudio.google.com/apikey)."
    )


def resolve_settings(
    options: Options,
    config: Mapping[str, Any],
    configured: set[str],
    environ: Mapping[str, str] | None = None,
    *,
    need_key: bool = True,
) -> Settings:
    """Combine one cell's options with the magic's traitlets and the environment.

    ``configured`` names the traitlets the user set with ``%config`` (or in a config file); the
    others still hold their defaults, which lose to the environment. The key is required unless
    *need_key* is false (``%gemini config``), nothing will be sent (``--dry-run``) or the answer may
    come from the cache (a cache miss then asks for it: :func:`no_key_error`).
    """
    env = os.environ if environ is None else environ
    sources: dict[str, str] = {}

    def pick(name: str, option: Any = None, env_var: str | None = None, default: Any = None) -> Any:
        if option is not None:
            sources[name] = "cell option"
            return option
        if name in configured:
            sources[name] = f"%config GeminiMagic.{name}"
            return config[name]
        if env_var and env.get(env_var):
            sources[name] = env_var
            return env[env_var]
        sources[name] = "default"
        return config.get(name, DEFAULTS[name]) if default is None else default  # a trait's default is DEFAULTS

    cache = bool(pick("cache", options.cache))
    key_vars = (config["api_key_env"],) if config.get("api_key_env") else KEY_ENV_VARS
    api_key, key_source = "", ""
    for var in key_vars:
        if env.get(var, "").strip():
            api_key, key_source = env[var].strip(), var
            break
    if not api_key and need_key and not (options.dry_run or cache):
        raise no_key_error(key_vars)
    if api_key and not (api_key.isascii() and api_key.isprintable() and " " not in api_key):
        raise UsageError(
            f"the key in {key_source} contains spaces or characters an HTTP header cannot carry; was it pasted whole?"
        )
    sources["api_key"] = key_source or "not set"

    default_base = COMETAPI_BASE_URL if key_source == "COMETAPI_KEY" else DEFAULTS["base_url"]
    base_url = str(pick("base_url", options.base_url, "GEMINI_BASE_URL", default_base)).strip().rstrip("/")
    base_url = base_url.removesuffix("/v1beta")
    problem = base_url_problem(base_url)
    if problem:
        raise UsageError(f"base URL from {sources['base_url']}: {problem}")

    if (options.speech or options.speakers) and options.model is None:
        model = str(pick("speech_model")).strip() or DEFAULTS["speech_model"]
        sources["model"] = sources.pop("speech_model")
    else:
        model = str(pick("model", options.model, "GEMINI_MODEL")).strip() or DEFAULTS["model"]
    auth = str(pick("auth", options.auth)).lower()
    if auth not in ("key", "bearer"):
        raise UsageError(f"auth {auth!r} ({sources['auth']}) must be 'key' or 'bearer'")
    timeout = float(pick("timeout", options.timeout))
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(
            f"timeout {timeout:g} ({sources['timeout']}) must be more than 0 and at most {MAX_TIMEOUT:g} seconds"
        )
    max_mb = float(pick("max_response_mb"))
    if not 1 <= max_mb <= 1 << 20:
        raise UsageError(f"max_response_mb {max_mb:g} ({sources['max_response_mb']}) must be from 1 to {1 << 20}")
    return Settings(
        model=model,
        base_url=base_url,
        auth=auth,
        timeout=timeout,
        max_retries=int(pick("max_retries")),
        api_key=api_key,
        max_response_bytes=int(max_mb * (1 << 20)),
        cache=cache,
        cache_dir=str(pick("cache_dir")),
        max_tool_rounds=int(pick("max_tool_rounds")),
        remote_images=bool(pick("remote_images")),
        log=bool(pick("log")),
        log_path=str(pick("log_path")),
        max_history_turns=int(pick("max_history_turns")),
        key_source=key_source,
        key_vars=key_vars,
        sources=sources,
    )
