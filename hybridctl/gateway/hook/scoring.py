"""The hybrid routing strategy's complexity score of a chat request (its factors, 0-10 scale).

Part of the gateway hook package (copied into the bundle as it is); standard library only.
"""

from __future__ import annotations

import re
from typing import Any

FEATURES = (
    "multi_turn",
    "requires_analysis",
    "requires_creativity",
    "includes_personal_data",
    "long_request",
    "is_simple",
    "has_examples",
    "is_faq",
)

_ANALYSIS = re.compile(
    r"\b(analy[sz]\w*|compar\w*|evaluat\w*|assess\w*|trade-?offs?|pros and cons|implications?|"
    r"root cause|diagnos\w*|critiqu\w*|strateg\w*|justify|step[- ]by[- ]step|in[- ]depth|"
    r"explain why|reasoning)\b",
    re.IGNORECASE,
)
_CREATIVITY = re.compile(
    r"\b(poem|poetry|story|stories|lyrics|song|slogan|tagline|fiction|novel|screenplay|"
    r"creative\w*|imagin\w*|brainstorm\w*|invent\w*|compose|write (a|an|me) \w+)\b",
    re.IGNORECASE,
)
# Every pattern is linear in the text: quantifiers that can run into each other are bounded, and
# an e-mail address is looked for around each "@" instead of from every letter (an unbounded
# [\w.+-]+@ retried from each position of a long word took seconds on 30 KB).
_PERSONAL = re.compile(
    r"(\+?\d[\d ().-]{8,24}\d|\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b|"
    r"\bmy (salary|income|debt|diagnosis|health|medical|medication|therapist|address|"
    r"phone|passport|ssn|social security|bank|date of birth|birthday)\b)",
    re.IGNORECASE,
)
_EMAIL_LOCAL_CHAR = re.compile(r"[\w.+-]")
_EMAIL_DOMAIN = re.compile(r"[\w-]{1,63}\.[\w.-]")
_EXAMPLES = re.compile(
    r"(\bfor example\b|\be\.g\.|\bfor instance\b|\bexamples?:|\binput:|\boutput:|```)",
    re.IGNORECASE,
)
_FAQ = re.compile(
    r"(^|[.,;:!?]\s*)\s*(what (is|are|does)|when (is|are|do|does)|where (is|are|can|do)|"
    r"who (is|are)|how (do|can|much|many|long|to)|can i|do you|is there|are there|does|define)\b|"
    r"\b(faq|opening hours|business hours|reset (my )?password|refund|shipping|pricing)\b",
    re.IGNORECASE,
)
SIMPLE_MAX_CHARS = 160
FAQ_MAX_CHARS = 240
# The patterns read at most this much of a request's user text (its start and its end): a
# request's kind shows early and late, and a client cannot buy CPU time with a longer prompt.
SCAN_CHARS = 32_768


def message_text(content: Any) -> str:
    """The text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def _bounded(text: str) -> str:
    """The start and the end of a text longer than SCAN_CHARS."""
    if len(text) <= SCAN_CHARS:
        return text
    half = SCAN_CHARS // 2
    return text[:half] + "\n" + text[-half:]


def has_email(text: str) -> bool:
    """Whether an e-mail address appears: a local-part character, "@", a dotted domain."""
    at = text.find("@")
    while at != -1:
        if at > 0 and _EMAIL_LOCAL_CHAR.match(text, at - 1) and _EMAIL_DOMAIN.match(text, at + 1):
            return True
        at = text.find("@", at + 1)
    return False


def request_features(messages: list[dict[str, Any]], long_request_chars: int) -> dict[str, bool]:
    """Which of the hybrid strategy's complexity factors a chat request shows."""
    turns = [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
    user_texts = [message_text(m.get("content")) for m in turns if m.get("role") == "user"]
    last = user_texts[-1] if user_texts else ""
    all_user = _bounded("\n".join(user_texts))
    multi_turn = len(user_texts) > 1 or any(m.get("role") == "assistant" for m in turns)
    analysis = bool(_ANALYSIS.search(all_user))
    creativity = bool(_CREATIVITY.search(all_user))
    length = sum(len(message_text(m.get("content"))) for m in turns)
    return {
        "multi_turn": multi_turn,
        "requires_analysis": analysis,
        "requires_creativity": creativity,
        "includes_personal_data": has_email(all_user) or bool(_PERSONAL.search(all_user)),
        "long_request": length > long_request_chars,
        "is_simple": not multi_turn
        and len(last) <= SIMPLE_MAX_CHARS
        and not (analysis or creativity),
        "has_examples": bool(_EXAMPLES.search(all_user)),
        "is_faq": not multi_turn and len(last) <= FAQ_MAX_CHARS and bool(_FAQ.search(last)),
    }


def complexity_score(features: dict[str, bool], weights: dict[str, float]) -> float:
    """The weighted sum of the factors present, clamped to the document's 0-10 scale."""
    total = sum(weights.get(name, 0.0) for name, present in features.items() if present)
    return float(min(10.0, max(0.0, total)))


def required_route(score: float, local_below: float, medium_below: float) -> str:
    """The least capable route the score calls for."""
    if score < local_below:
        return "local"
    return "medium" if score < medium_below else "large"
