"""Fill-in-the-middle (code infilling) prompts for the code-model families trained on them.

A FIM prompt puts the code before the gap (prefix) and after it (suffix) between the family's
special tokens; the model then writes the middle and ends it with one of its end tokens, which are
sent as stop sequences and trimmed from the answer. Pure; no I/O.

Token spellings, exactly as the families' tokenizers define them (prompt; stop sequences):

- ``code-llama``: ``<PRE> {prefix} <SUF>{suffix} <MID>``; ``<EOT>``. Source:
  ``meta-llama/codellama`` ``llama/generation.py::infilling_prompt_tokens`` ("<PRE> {pre} <SUF>{suf}
  <MID>") and ``llama/tokenizer.py`` (pieces ``<PRE>``, ``<SUF>``, ``<MID>``, ``<EOT>``).
- ``starcoder`` (StarCoder, StarCoderBase, StarCoder2): ``<fim_prefix>{prefix}<fim_suffix>{suffix}
  <fim_middle>``; ``<|endoftext|>``, ``<file_sep>``. Source: the bigcode model cards.
- ``santacoder``: hyphens, not underscores:
  ``<fim-prefix>{prefix}<fim-suffix>{suffix}<fim-middle>``; ``<|endoftext|>``. Source:
  ``bigcode/santacoder`` ``special_tokens_map.json``.
- ``codeqwen`` (CodeQwen1.5): the StarCoder tokens, *not* the pipe form of Qwen2.5-Coder;
  ``<|endoftext|>``, ``<file_sep>``. Source: ``QwenLM/Qwen2.5-Coder``
  ``examples/CodeQwen1.5-base.md``.
- ``qwen-coder`` (Qwen2.5-Coder, Qwen3-Coder): ``<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}
  <|fim_middle|>``; ``<|endoftext|>``, ``<|fim_pad|>``, ``<|file_sep|>``, ``<|im_end|>``. Source:
  ``examples/Qwen2.5-Coder.md`` (prompt; end-of-middle ids 151643, 151662, 151664, 151645, which the
  tokenizer config names as listed).
- ``deepseek-coder`` (DeepSeek-Coder v1/v2):
  ``<|fim begin|>{prefix}<|fim hole|>{suffix}<|fim end|>`` written with U+FF5C (fullwidth vertical
  line) for the bars and U+2581 (lower one-eighth block) for the spaces; stops
  ``<|end of sentence|>`` (same characters, id 32014) and the plain-ASCII ``<|EOT|>`` (id 32021).
  Source: ``deepseek-ai/DeepSeek-Coder`` README "Code Insertion" and its tokenizer.
- ``codestral``: suffix first, ``[SUFFIX]{suffix}[PREFIX]{prefix}``; ``</s>``. Source:
  ``mistralai/mistral-common`` ``InstructTokenizerV2.encode_fim`` (``BOS [SUFFIX] suffix [PREFIX]
  prefix``; the server's tokenizer adds BOS).

Each family has at most four stop sequences: TGI's default ``--max-stop-sequences`` is 4.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hfbridge.errors import HFConfigError

_BAR = "\uff5c"  # fullwidth vertical line, as in DeepSeek's special tokens
_SPACE = "\u2581"  # SentencePiece word marker, as in DeepSeek's special tokens


@dataclass(frozen=True, slots=True)
class FimFamily:
    """One family's FIM format: how to build the prompt and which tokens end the middle."""

    name: str
    template: Callable[[str, str], str]
    stop: tuple[str, ...]

    def prompt(self, prefix: str, suffix: str) -> str:
        """The FIM prompt asking for the text between ``prefix`` and ``suffix``."""
        return self.template(prefix, suffix)


def _starcoder_style(prefix: str, suffix: str) -> str:
    return f"<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>"


FIM_FAMILIES: dict[str, FimFamily] = {
    family.name: family
    for family in (
        FimFamily("code-llama", lambda p, s: f"<PRE> {p} <SUF>{s} <MID>", ("<EOT>",)),
        FimFamily("starcoder", _starcoder_style, ("<|endoftext|>", "<file_sep>")),
        FimFamily(
            "santacoder",
            lambda p, s: f"<fim-prefix>{p}<fim-suffix>{s}<fim-middle>",
            ("<|endoftext|>",),
        ),
        FimFamily("codeqwen", _starcoder_style, ("<|endoftext|>", "<file_sep>")),
        FimFamily(
            "qwen-coder",
            lambda p, s: f"<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>",
            ("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>"),
        ),
        FimFamily(
            "deepseek-coder",
            lambda p, s: (
                f"<{_BAR}fim{_SPACE}begin{_BAR}>{p}<{_BAR}fim{_SPACE}hole{_BAR}>{s}"
                f"<{_BAR}fim{_SPACE}end{_BAR}>"
            ),
            (f"<{_BAR}end{_SPACE}of{_SPACE}sentence{_BAR}>", "<|EOT|>"),
        ),
        FimFamily("codestral", lambda p, s: f"[SUFFIX]{s}[PREFIX]{p}", ("</s>",)),
    )
}
"""The known families by name (the values ``fim_family=`` accepts)."""

# Checked in order: the more specific names first (SantaCoder and CodeQwen1.5 before StarCoder and
# Qwen-Coder, whose names they would otherwise match).
_DETECTION: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"code[-_]?llama"), "code-llama"),
    (re.compile(r"santacoder"), "santacoder"),
    (re.compile(r"codeqwen"), "codeqwen"),
    (re.compile(r"starcoder"), "starcoder"),
    (re.compile(r"qwen[\w.]*[-_]coder"), "qwen-coder"),
    (re.compile(r"deepseek[-_]coder"), "deepseek-coder"),
    (re.compile(r"codestral"), "codestral"),
)


def _known() -> str:
    return ", ".join(FIM_FAMILIES)


def detect_fim_family(model_id: str | None) -> str | None:
    """The FIM family a model id belongs to (case-insensitive), or ``None`` when unknown."""
    if not model_id:
        return None
    name = model_id.lower()
    return next((family for pattern, family in _DETECTION if pattern.search(name)), None)


def resolve_fim_family(model_id: str | None, fim_family: str | None = None) -> FimFamily:
    """The family to use: ``fim_family`` when given, else the one detected from ``model_id``.

    Raises :class:`HFConfigError` for an unknown explicit family or an undetectable model id.
    """
    if fim_family is not None:
        family = FIM_FAMILIES.get(fim_family.strip().lower())
        if family is None:
            raise HFConfigError(f"fim_family {fim_family!r} is not known: use one of {_known()}.")
        return family
    detected = detect_fim_family(model_id)
    if detected is None:
        raise HFConfigError(
            f"Cannot tell which fill-in-the-middle format model {model_id!r} uses: its name "
            f"matches none of the known code-model families ({_known()}). Pass "
            "fim_family='<one of them>' if the model was trained with that family's tokens, or "
            "build the prompt yourself."
        )
    return FIM_FAMILIES[detected]


def build_fim_prompt(
    model_id: str | None, prefix: str, suffix: str, *, fim_family: str | None = None
) -> str:
    """The FIM prompt for ``model_id``'s family (or ``fim_family``) around the gap to fill."""
    if not isinstance(prefix, str) or not isinstance(suffix, str):
        raise HFConfigError(
            f"prefix and suffix must be strings, got {type(prefix).__name__} and "
            f"{type(suffix).__name__}."
        )
    return resolve_fim_family(model_id, fim_family).prompt(prefix, suffix)


def fim_stop_sequences(model_id: str | None, fim_family: str | None = None) -> tuple[str, ...]:
    """The stop sequences that end the middle for ``model_id``'s family (or ``fim_family``)."""
    return resolve_fim_family(model_id, fim_family).stop
