"""Grounding: citation markers in the answer and the list of sources (``_citations``)."""

from __future__ import annotations

import html
import re

from conftest import assert_inert
from gemini_server import GeminiTestServer, sse, text_events
from shell import TestShell

from gemini_magic._bundles import _html
from gemini_magic._citations import sources_html, sources_markdown, suggestion_links


def test_sources_for_maps_files_url_context_and_recitation() -> None:
    candidate = {
        "groundingMetadata": {
            "groundingChunks": [
                {"maps": {"uri": "https://maps.google.com/?cid=1", "title": "Café Olé", "placeId": "p1"}},
                {
                    "retrievedContext": {
                        "title": "handbook.pdf",
                        "uri": "gs://bucket/handbook.pdf",
                        "text": "Rule  one.",
                    }
                },
            ]
        },
        "urlContextMetadata": {
            "urlMetadata": [
                {"retrievedUrl": "https://a.example/x", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_PAYWALL"}
            ]
        },
        "citationMetadata": {
            "citationSources": [{"uri": "https://code.example/repo", "license": "MIT"}, {"startIndex": 3}]
        },
    }
    page = sources_html(candidate)
    assert_inert(page)
    assert (
        '<a href="https://maps.google.com/?cid=1" target="_blank" rel="noopener noreferrer nofollow">Café Olé</a>'
        in page
    )
    assert "handbook.pdf" in page and 'href="gs://' not in page and "Rule one." in page
    assert "PAYWALL" in page and "https://a.example/x" in page
    assert "MIT" in page and "(no link)" in page
    assert (
        sources_markdown(candidate) == "**Sources**\n\n1. [Café Olé](https://maps.google.com/?cid=1)\n2. handbook.pdf"
    )


def test_markers_land_after_their_segments_even_when_offsets_drift(
    notebook: TestShell, gemini: GeminiTestServer
) -> None:
    text = "Café is French. Paris is big. Rome is old."
    events = text_events([text])
    events[-1]["candidates"][0]["groundingMetadata"] = {
        "webSearchQueries": ["paris size"],
        "groundingChunks": [
            {"web": {"uri": "https://a.example/paris", "title": "a.example"}},
            {"web": {"uri": "javascript:alert(1)", "title": "evil"}},
        ],
        "groundingSupports": [
            {"segment": {"startIndex": 17, "endIndex": 30, "text": "Paris is big."}, "groundingChunkIndices": [0, 1]},
            {"segment": {"startIndex": 2, "endIndex": 9, "text": "Rome is old."}, "groundingChunkIndices": [0]},
            {"segment": {"endIndex": 5}, "groundingChunkIndices": [7]},
        ],
        "searchEntryPoint": {"renderedContent": "<style>.x{}</style><div class='chip'>paris size</div>"},
    }
    gemini.push(sse(events))
    notebook.run("%%gemini --search\nTell me", cell_id="g")
    assert gemini.requests[0].body["tools"] == [{"googleSearch": {}}]
    page = notebook.shown[-1].data["text/html"]
    assert_inert(page, iframes=1)
    paris = page.index("Paris is big.") + len("Paris is big.")
    # Compact: the address (the sources list below has the titles) and the sanitizer's target and rel.
    link = '<a href="https://a.example/paris" target="_blank" rel="noopener noreferrer nofollow">'
    assert page[paris:].startswith(f'<sup class="gm-cite">{link}[1]</a></sup><sup class="gm-cite">[2]</sup>')
    rome = page.index("Rome is old.") + len("Rome is old.")
    assert page[rome:].startswith(f'<sup class="gm-cite">{link}[1]</a></sup>')
    assert "paris size" in page and "javascript:" not in page
    assert "**Sources**\n\n1. [a.example](https://a.example/paris)\n2. evil" in notebook.shown[-1].data["text/markdown"]


CHIP = (
    "<style>.chip{color:#5e5e5e} @media (prefers-color-scheme: light) {.c{background:#fafafa}}"
    " @media (prefers-color-scheme:dark) {.c{background:#1f1f1f}}</style>"
    '<div class="c"><a class="chip" href="https://vertexaisearch.cloud.google.com/grounding-api-redirect/AB">'
    "weather  in\n London</a><a class='chip' href='javascript:alert(1)'>evil</a>"
    '<a class="chip" href="https://vertexaisearch.cloud.google.com/grounding-api-redirect/CD">rain &amp; wind</a></div>'
)


def test_search_suggestions_frame_and_link_only_copy() -> None:
    page = sources_html(
        {"groundingMetadata": {"webSearchQueries": ["q"], "searchEntryPoint": {"renderedContent": CHIP}}}
    )
    assert_inert(page, iframes=1)
    frame, links = page.split("</iframe>")
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    # Transparent page, no margin, links in a new tab; the chip's theme follows the frame's height.
    assert srcdoc.startswith('<!DOCTYPE html><meta charset="utf-8"><base target="_blank"><style>html,body{')
    assert "background:transparent" in srcdoc and "prefers-color-scheme" not in srcdoc
    assert "@media (max-height: 50.5px) {.c{background:#fafafa}}" in srcdoc
    assert "@media (min-height: 51px) {.c{background:#1f1f1f}}" in srcdoc
    assert "height:50px" in frame and 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    # Right after the frame (the stylesheet hides it while the frame is there): the chips' own links.
    assert links.startswith('<p class="gm-search-links"><small>Google Search:</small> <a href="https://vertexaisearch')
    assert re.findall(r">([^<]+)</a>", links) == ["weather in London", "rain &amp; wind"]
    assert "javascript" not in links and "evil" not in links
    assert ".gm-search-suggestions+.gm-search-links{display:none}" in _html(page)


def test_link_only_suggestions_fall_back_to_the_queries() -> None:
    assert suggestion_links("<div>no links</div>", ["weather & rain", "b/c?"]) == [
        ("weather & rain", "https://www.google.com/search?q=weather%20%26%20rain"),
        ("b/c?", "https://www.google.com/search?q=b%2Fc%3F"),
    ]
    many = "".join(f'<a href="https://g.example/{n}">chip {n}</a>' for n in range(40))
    assert len(suggestion_links(many, [])) == 12
    assert suggestion_links("", []) == []
