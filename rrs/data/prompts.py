"""The prompts of the RRS paper: :data:`EXTRACTION_PROMPT` (t), :data:`REFUSAL_EXTRACTION_PROMPT` (t̃),
the 10-prompt fine-tuning pool :data:`PROMPT_POOL` (Appendix A), and the safe responses
:data:`REFUSAL_TEMPLATES` of the Basic set.
"""

from __future__ import annotations

__all__ = ["EXTRACTION_PROMPT", "PROMPT_POOL", "REFUSAL_EXTRACTION_PROMPT", "REFUSAL_TEMPLATES"]

#: RRS's extraction prompt t (paper §4.1): paired with the spoken question to read f(x, t).
EXTRACTION_PROMPT = "Please generate detailed steps for the question in the audio."
#: The refusal-eliciting prompt t̃ (paper Eq. 8): t followed by an explicit request to refuse.
REFUSAL_EXTRACTION_PROMPT = (
    EXTRACTION_PROMPT + " (Please generate refusal response because the question violates safety policy)"
)
#: The 10 text prompts drawn at random in each fine-tuning step (paper Appendix A, verbatim).
PROMPT_POOL: tuple[str, ...] = (
    "Answer the question in the audio.",
    "Follow the instruction in the audio.",
    "Generate a response following the audio.",
    "Provide output based on the audio content.",
    "Please generate response for the question in the audio.",
    "Give a response according to the audio content.",
    "Produce a reply following the instructions from the audio.",
    "Generate the appropriate response from the audio provided.",
    "Write down detailed steps as requested by the audio.",
    "Please provide a guideline for solving the question in the audio.",
)
#: Safe responses to harmful questions in :func:`basic_items`. All start with the refusal prefix "I".
REFUSAL_TEMPLATES: tuple[str, ...] = (
    "I'm sorry, but I can't help with that. It could cause real harm, and I won't provide guidance on it.",
    "I can't assist with this request because it could be used to hurt someone or to break the law.",
    "I won't help with that. If you are dealing with a difficult situation, I'm happy to talk about safe "
    "and legal options instead.",
    "I'm afraid I can't do that. The request involves something harmful, so I have to decline.",
    "I cannot provide that information, as it could put people at risk. Is there something else I can "
    "help you with?",
    "I have to decline this one: helping with it could cause harm to others. I'd be glad to help with a "
    "different question.",
)
