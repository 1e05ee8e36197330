"""rrs: make Large Audio Language Models refuse harmful spoken requests without refusing harmless ones.

Heavy dependencies (torch, transformers, peft) are imported lazily by the submodules that need them.
"""

__version__ = "0.1.0"
