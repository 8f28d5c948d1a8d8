"""ChatService is cut into modules by idea; what users imported from ``inference.chat`` stays there.

``chat_profile`` (what the model can do), ``chat_plan`` (what is decided before a request),
``chat_result`` (what an answer becomes) and ``chat`` (the entry points) stand under one class.
"""

from __future__ import annotations

from hfbridge.inference import chat, chat_plan, chat_profile, chat_result, service

# Every public method and attribute ChatService had when it was one module.
PUBLIC_METHODS = (
    "acapabilities", "acandidates", "acheck_images", "acomplete", "afor_server", "aprofile",
    "astream", "astructured_output_method", "atargets", "candidates", "capabilities", "catalog",
    "check_images", "check_tools_supported", "complete", "context_window", "count_text_tokens",
    "count_tokens", "explain", "explained", "for_model", "for_server", "profile", "stream",
    "structured_output_method", "supports_tools", "targets",
)  # fmt: skip


def test_the_names_of_the_chat_module_still_import_from_it():
    assert chat.ChatResult is chat_result.ChatResult
    assert chat.AnyRequest is chat_plan.AnyRequest
    assert chat.CallOptions is service.CallOptions
    assert chat.PROVIDER_HEADERS is service.PROVIDER_HEADERS
    assert chat.AsyncChatStream is chat.ChatStream
    assert all(hasattr(chat, name) for name in chat.__all__)


def test_chat_service_keeps_every_public_method():
    missing = [name for name in PUBLIC_METHODS if not hasattr(chat.ChatService, name)]
    assert not missing
    assert issubclass(chat.ChatService, chat_plan.ChatPlanning)
    assert issubclass(chat.ChatService, chat_result.ChatReading)
    assert issubclass(chat.ChatService, chat_profile.ChatProfile)
