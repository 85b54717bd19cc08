"""A chat's turns, kept per notebook cell (``_conversation``)."""

from __future__ import annotations

from gemini_magic._conversation import Conversation


def test_conversation_history_and_replacement() -> None:
    chat = Conversation("c")
    chat.record("a", [{"role": "user", "parts": [{"text": "1"}]}, {"role": "model", "parts": [{"text": "one"}]}])
    chat.record("b", [{"role": "user", "parts": [{"text": "2"}]}])
    assert [t["parts"][0]["text"] for t in chat.history("b")] == ["1", "one"]
    assert [t["parts"][0]["text"] for t in chat.history("new")] == ["1", "one", "2"]
    chat.record("a", [{"role": "user", "parts": [{"text": "1'"}]}])
    assert [t["parts"][0]["text"] for t in chat.turns()] == ["1'", "2"]
    history = chat.history("new")
    history[0]["parts"][0]["text"] = "mutated"
    assert chat.turns()[0]["parts"][0]["text"] == "1'"  # stored turns are copies
