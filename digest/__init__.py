"""digest: self-hosted daily digests of research-paper listings."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
