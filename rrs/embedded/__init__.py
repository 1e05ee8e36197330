"""Build tools of the embedded model (``python -m rrs.embedded {prepare,adapt,measure}``): adapting its bridge
on benign speech, measuring it, and the question sets they use. The model itself is :mod:`rrs.models.embedded`.
"""
