"""The one HTML sanitizer every renderer goes through (nh3, the ammonia sanitizer).

Model output is untrusted: no scripts, no event handlers, no iframes or forms, no ``style`` beyond
table alignment and highlighting colours, and links/images only with http(s) or mailto URLs
(relative URLs are dropped too: in JupyterLab they would reach the server's own API). nh3 is
imported on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sanitize"]

_SAFE_URL = ("http://", "https://", "mailto:")
_URL_ATTRIBUTES = {"href", "src", "cite", "srcset", "longdesc", "action", "background"}
_cleaner: Any = None


def sanitize(fragment: str) -> str:
    """Strip everything unsafe from an HTML fragment (shared by all renderers)."""
    global _cleaner
    if _cleaner is None:
        import nh3

        attributes = {
            "a": {"href", "title"},
            "img": {"src", "alt", "title", "width", "height"},
            "td": {"style", "colspan", "rowspan"},
            "th": {"style", "colspan", "rowspan"},
            "ol": {"start"},
            "details": {"open"},
            "abbr": {"title"},
            "span": {"style"},  # syntax highlighting colours (only the properties below survive)
        }
        _cleaner = nh3.Cleaner(
            tags=set(nh3.ALLOWED_TAGS) - {"map", "area"},
            clean_content_tags={"script", "style"},
            attributes=attributes,
            attribute_filter=_safe_attribute,
            url_schemes={"http", "https", "mailto"},
            filter_style_properties={"text-align", "color", "font-style", "font-weight"},
            allowed_classes={"div": {"gm-sources"}, "sup": {"gm-cite"}},
            link_rel="noopener noreferrer nofollow",
            set_tag_attribute_values={"a": {"target": "_blank"}},
        )
    return _cleaner.clean(fragment)


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    """Drop URLs that are relative or use any scheme but http(s)/mailto."""
    if attribute in _URL_ATTRIBUTES and not value.strip().lower().startswith(_SAFE_URL):
        return None
    return value
