"""restasmr-jax: the REST-ASMR pipeline in JAX/Flax (see ../shared/SPEC.md)."""

__version__ = "0.1.0"
