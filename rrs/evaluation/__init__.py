"""Judges, metrics and reports for ASR / ORR evaluation.

* ``rrs.evaluation.judges``: ``get_judge("keyword" | "first-token" | "llm", ...)``; ``judge(prompts, responses)``
  gives ``True`` for a refusal.
* ``rrs.evaluation.metrics``: ``EvalConfig``, ``evaluate`` (resumable), ``EvalResult``, ``nsi``,
  ``save_result`` / ``load_result``.
* ``rrs.evaluation.report``: ``write_report`` (Table 3 as Markdown / CSV / LaTeX, per-category CSV).
* ``rrs.evaluation.wer``: word error rate.
"""
