"""The evsim version, in a module of its own so that writers (io, nir) can stamp files without importing the package."""

__version__ = "0.1.0"
