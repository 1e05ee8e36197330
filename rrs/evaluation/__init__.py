"""Judges, metrics and reports for ASR / ORR evaluation."""
