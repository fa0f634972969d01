"""How an answer's text is shown in the chat (rendered by Gradio's Markdown; no models needed)."""

from __future__ import annotations

from tutor.app.answer import render_stored_answer


def test_code_keeps_its_characters_and_html_outside_it_is_text() -> None:
    text = "LoRA learns `W' = W + B·A` and `a < b` [2]. It keeps <b>W</b> & A fixed. The base model is frozen."
    shown = render_stored_answer(text, [{"n": 2}], 1, unsupported=["The base model is frozen."])
    # Markdown shows a code span literally: an entity there would be read as typed (W&#x27;).
    assert "`W' = W + B·A`" in shown and "`a < b`" in shown
    assert "&lt;b&gt;W&lt;/b&gt; &amp; A" in shown and "<b>" not in shown
    assert '<a class="cite" href="#src-1-2">[2]</a>' in shown
    assert '<span class="unsupported" title="no passage says this">The base model is frozen. ⚠</span>' in shown
