"""Options → ``GenerateContentRequest`` body and endpoint URL.

Each option lands exactly where the Gemini API expects it: ``systemInstruction``, ``tools``,
``safetySettings`` and ``cachedContent`` at the top level, sampling and output controls inside
``generationConfig`` (a field at the wrong level is a 400 "Unknown name … Cannot find field").
Pure functions, so the mapping is testable field by field without a network.
"""

from __future__ import annotations

from typing import Any

from ._options import Options

__all__ = ["build_body", "endpoint", "user_turn"]


def endpoint(base_url: str, model: str, *, stream: bool) -> str:
    """``{base}/v1beta/models/{model}:streamGenerateContent?alt=sse`` (or ``:generateContent``)."""
    path = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/v1beta/{path}:{method}"


def user_turn(prompt: str, attachments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The user's content: attachments first (as Google advises for media), then the prompt."""
    return {"role": "user", "parts": [*(attachments or []), {"text": prompt}]}


def build_body(
    options: Options,
    contents: list[dict[str, Any]] | str,
    schema: dict[str, Any] | None = None,
    functions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON body, in the API's camelCase; *contents* is the history plus this cell's turn."""
    turns = [user_turn(contents)] if isinstance(contents, str) else contents
    body: dict[str, Any] = {"contents": turns}
    if options.system:
        body["systemInstruction"] = {"parts": [{"text": options.system}]}
    tools = _tools(options)
    if functions:
        tools.append({"functionDeclarations": functions})
    if tools:
        body["tools"] = tools
    if options.tool_mode:
        body["toolConfig"] = {"functionCallingConfig": {"mode": options.tool_mode}}
    if options.safety:
        body["safetySettings"] = [{"category": c, "threshold": t} for c, t in options.safety]
    if options.cached_content:
        body["cachedContent"] = options.cached_content
    config = _generation_config(options, schema)
    if config:
        body["generationConfig"] = config
    return body


def _tools(options: Options) -> list[dict[str, Any]]:
    flags = (
        (options.search, "googleSearch"),
        (options.maps, "googleMaps"),
        (options.url_context, "urlContext"),
        (options.code_execution, "codeExecution"),
    )
    return [{name: {}} for enabled, name in flags if enabled]


def _generation_config(options: Options, schema: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    scalars = (
        ("temperature", options.temperature),
        ("topP", options.top_p),
        ("topK", options.top_k),
        ("maxOutputTokens", options.max_tokens),
        ("seed", options.seed),
    )
    config.update((name, value) for name, value in scalars if value is not None)
    if options.stop:
        config["stopSequences"] = list(options.stop)
    if options.json_mode or schema is not None:
        config["responseMimeType"] = "application/json"
    if schema is not None:
        config["responseJsonSchema"] = schema
    if options.candidates is not None:
        config["candidateCount"] = options.candidates
    if options.image:
        config["responseModalities"] = ["TEXT", "IMAGE"]
    image = {"aspectRatio": options.aspect_ratio, "imageSize": options.image_size}
    if any(image.values()):
        config["imageConfig"] = {name: value for name, value in image.items() if value}
    if options.media_resolution:
        config["mediaResolution"] = f"MEDIA_RESOLUTION_{options.media_resolution.upper()}"
    if options.speech or options.speakers:
        config["responseModalities"] = ["AUDIO"]
        config["speechConfig"] = _speech_config(options)
    thinking: dict[str, Any] = {}
    if options.thinking_level:
        thinking["thinkingLevel"] = options.thinking_level
    if options.thinking_budget is not None:
        thinking["thinkingBudget"] = options.thinking_budget
    if options.show_thoughts:
        thinking["includeThoughts"] = True
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _speech_config(options: Options) -> dict[str, Any]:
    """One voice (``voiceConfig``) or a two-speaker dialogue (``multiSpeakerVoiceConfig``), never both."""

    def voice(name: str) -> dict[str, Any]:
        return {"prebuiltVoiceConfig": {"voiceName": name}}

    if options.speakers:
        configs = [{"speaker": speaker, "voiceConfig": voice(name)} for speaker, name in options.speakers]
        return {"multiSpeakerVoiceConfig": {"speakerVoiceConfigs": configs}}
    return {"voiceConfig": voice(options.speech or "Kore")}
