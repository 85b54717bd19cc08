"""Precedence: cell option > %config > environment > default; where the key may appear."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from gemini_magic._options import Options
from gemini_magic._settings import COMETAPI_BASE_URL, DEFAULTS, GOOGLE_BASE_URL, resolve_settings

CONFIG = dict(DEFAULTS)  # the traitlets' values when nothing is configured


def resolve(options: Options | None = None, configured: dict | None = None, **env: str):
    options = options or Options()
    config = {**CONFIG, **(configured or {})}
    return resolve_settings(options, config, set(configured or ()), env)


def test_defaults() -> None:
    s = resolve(GEMINI_API_KEY="k1")
    assert (s.model, s.base_url, s.auth, s.timeout, s.max_retries) == (
        "gemini-3-flash-preview",
        GOOGLE_BASE_URL,
        "key",
        120.0,
        3,
    )
    assert s.headers() == {"x-goog-api-key": "k1"}


def test_key_order_and_sources() -> None:
    s = resolve(GOOGLE_API_KEY="g", COMETAPI_KEY="c")
    assert (s.api_key, s.key_source, s.base_url) == ("g", "GOOGLE_API_KEY", GOOGLE_BASE_URL)
    s = resolve(GEMINI_API_KEY="a", GOOGLE_API_KEY="g")
    assert s.key_source == "GEMINI_API_KEY"


def test_cometapi_key_alone_picks_cometapi_host() -> None:
    s = resolve(COMETAPI_KEY="c")
    assert s.base_url == COMETAPI_BASE_URL
    s = resolve(COMETAPI_KEY="c", GEMINI_BASE_URL="http://gw.example/")
    assert s.base_url == "http://gw.example"
    s = resolve(configured={"base_url": GOOGLE_BASE_URL}, COMETAPI_KEY="c")
    assert s.base_url == GOOGLE_BASE_URL  # %config set explicitly, even to the default value


def test_precedence_cell_config_env_default() -> None:
    env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "http://env.example", "GEMINI_MODEL": "env-model"}
    s = resolve(**env)
    assert (s.base_url, s.model) == ("http://env.example", "env-model")
    assert s.sources["base_url"] == "GEMINI_BASE_URL"
    s = resolve(configured={"base_url": "http://config.example/v1beta", "model": "config-model"}, **env)
    assert (s.base_url, s.model) == ("http://config.example", "config-model")
    assert s.sources["model"] == "%config GeminiMagic.model"
    s = resolve(
        Options(base_url="http://cell.example", model="cell-model", auth="bearer", timeout=5),
        {"base_url": "http://c"},
        **env,
    )
    assert (s.base_url, s.model, s.auth, s.timeout) == ("http://cell.example", "cell-model", "bearer", 5)
    assert s.headers() == {"Authorization": "Bearer k"}


def test_api_key_env_is_used_alone() -> None:
    s = resolve(configured={"api_key_env": "MY_KEY"}, MY_KEY="mine", GEMINI_API_KEY="other")
    assert (s.api_key, s.key_source) == ("mine", "MY_KEY")
    with pytest.raises(UsageError, match="No API key: set one of MY_KEY "):
        resolve(configured={"api_key_env": "MY_KEY"}, GEMINI_API_KEY="other")


def test_missing_key_names_the_variables() -> None:
    with pytest.raises(UsageError) as info:
        resolve()
    assert str(info.value).startswith("No API key: set one of GEMINI_API_KEY, GOOGLE_API_KEY, COMETAPI_KEY")
    assert resolve_settings(Options(), CONFIG, set(), {}, need_key=False).headers() == {}


def test_repr_never_shows_the_key() -> None:
    s = resolve(GEMINI_API_KEY="AIza-secret-value-123")
    assert "secret" not in repr(s) and "secret" not in str(s)
    assert s.masked_key() == "<set: 21 characters from GEMINI_API_KEY>"


@pytest.mark.parametrize("bad", ["two words", "ключ", "tab\there"])
def test_unsendable_key_is_a_user_error_that_does_not_echo_it(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(GEMINI_API_KEY=bad)
    assert "GEMINI_API_KEY contains spaces or characters" in str(info.value)
    assert bad not in str(info.value)


def test_speech_uses_the_speech_model_unless_a_model_is_given() -> None:
    speech = Options(speech="Kore")
    s = resolve(speech, GEMINI_API_KEY="k", GEMINI_MODEL="gemini-2.5-pro")
    assert (s.model, s.sources["model"]) == ("gemini-2.5-flash-preview-tts", "default")
    s = resolve(speech, {"speech_model": "gemini-2.5-pro-preview-tts"}, GEMINI_API_KEY="k")
    assert (s.model, s.sources["model"]) == ("gemini-2.5-pro-preview-tts", "%config GeminiMagic.speech_model")
    s = resolve(Options(speech="Kore", model="my-tts"), GEMINI_API_KEY="k")
    assert (s.model, s.sources["model"]) == ("my-tts", "cell option")
    assert resolve(Options(), GEMINI_API_KEY="k").model == "gemini-3-flash-preview"
