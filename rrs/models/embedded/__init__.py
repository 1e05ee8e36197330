"""The embedded LALM that ships with the project: Whisper tiny.en (read from its CTranslate2 file), a fixed
soft-token bridge and a small GGUF-packaged chat LLM, assembled on first use (:mod:`.assemble`) into a
:class:`~rrs.models.cascade.SpeechCascadeLALM`. Its tools (adapt, measure) live in :mod:`rrs.embedded`.
"""
