"""Audio language models behind one interface (:class:`rrs.models.base.LALM`).

* :mod:`~rrs.models.base` -- the interface (:class:`~rrs.models.base.LALM`) and the model card.
* :mod:`~rrs.models.query` -- queries, modalities and generation settings; :mod:`~rrs.models.device` -- device,
  dtype and weight fingerprints.
* :mod:`~rrs.models.qwen2_audio`, :mod:`~rrs.models.qwen_omni` -- one module per model family.
* :mod:`~rrs.models.cascade` -- a speech front end spliced into a text LLM (the embedded model's family).
* :mod:`~rrs.models.embedded` -- assembling the embedded model from packaged weights.
* :mod:`~rrs.models.loader` -- ``load_model(spec)`` for every family.

Importing this package loads no heavy package; torch and transformers are imported when a model is built.
"""
