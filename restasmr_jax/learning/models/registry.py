"""The model zoo: built-ins by registry name, a user's Flax module from `file.py:Class`, one contract check (SPEC §7).

`--models` names each model either by a registry name (`bilstm`, `bigru`,
`tcn`, `transformer`, `mlp`, `xgboost`) or as `path/to/file.py:ClassName`,
a `flax.linen.Module` that needs no change to the package: constructed with
no arguments, `__call__(self, x, mask, *, train)` with `x [batch, time,
feat]` float32 (zero on padded frames) and `mask [batch, time]` bool,
returning logits `[batch, time, 2]`, dropout from the `"dropout"` rng
stream (`tagger.py`).  A plug-in's rows carry its class name; a built-in's
its registry name.  XGBoost is registered so that it can be named, but it
is not a Flax module: the pipeline trains it on its own (SPEC §8).

Everything a user can get wrong here raises `ModelError` with one line
naming the model: a missing file, a file that does not import, a missing
class, a class that is not a Flax module or needs arguments, an unknown
built-in (the known ones are listed), and a module whose logits do not have
the shape `[batch, time, 2]` (`check_tagger`, run on a tiny batch before
anything is compiled).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from restasmr_jax.config import TrainConfig
from restasmr_jax.learning.models.bigru import BiGRUTagger
from restasmr_jax.learning.models.bilstm import BiLSTMTagger, init_params
from restasmr_jax.learning.models.mlp import MLPTagger
from restasmr_jax.learning.models.tagger import FrameInputs, Tagger
from restasmr_jax.learning.models.tcn import TCNTagger
from restasmr_jax.learning.models.transformer import TransformerTagger

HERE = Path(__file__).resolve().parent
XGBOOST = "xgboost"
N_CLASSES = 2
CHECK_BATCH, CHECK_TIME = 2, 7  # the tiny batch every model is checked on


class ModelError(ValueError):
    """A model named on the command line cannot be built or breaks the contract; the message names it."""


def bilstm(cfg: TrainConfig) -> Tagger:
    """The paper's model: the 2-layer BiLSTM with `cfg`'s width, depth and dropout."""
    module = BiLSTMTagger(hidden=cfg.hidden, layers=cfg.layers, dropout=cfg.dropout)
    return Tagger(module, factorised=True, initializer=init_params)


@dataclass(frozen=True)
class Builtin:
    build: Callable[[TrainConfig], Tagger] | None  # None: not a Flax model (XGBoost)
    files: tuple[str, ...]  # the sources its numbers depend on, in this folder
    summary: str


_SHARED_FILES = ("tagger.py", "layers.py")
BUILTINS: dict[str, Builtin] = {
    "bilstm": Builtin(bilstm, ("bilstm.py", "lstm.py"), "the paper's 2-layer BiLSTM, hidden --hidden per direction"),
    "bigru": Builtin(
        lambda cfg: Tagger(BiGRUTagger(), factorised=True), ("bigru.py", "lstm.py"), "bidirectional GRU, 1 x 128"
    ),
    "tcn": Builtin(
        lambda cfg: Tagger(TCNTagger(), factorised=True), ("tcn.py",), "dilated temporal convolutions, 255-frame field"
    ),
    "transformer": Builtin(
        lambda cfg: Tagger(TransformerTagger(), factorised=True),
        ("transformer.py",),
        "Transformer encoder, d 64, 2 layers, 4 heads",
    ),
    "mlp": Builtin(lambda cfg: Tagger(MLPTagger(), factorised=True), ("mlp.py",), "per-frame MLP 256-128"),
    XGBOOST: Builtin(None, (), "non-temporal XGBoost on every valid frame (SPEC §8)"),
}
DEFAULT_MODELS: tuple[str, ...] = tuple(BUILTINS)


def known_models() -> str:
    return ", ".join(BUILTINS)


@dataclass(frozen=True)
class ModelSpec:
    """One model of a benchmark: its row name and where it comes from."""

    name: str  # row name: the registry name, or a plug-in's class name
    source: str  # the registry name, or "<absolute path>.py:<ClassName>"

    @property
    def is_plugin(self) -> bool:
        return self.source not in BUILTINS

    @property
    def is_xgboost(self) -> bool:
        return self.source == XGBOOST

    def plugin_location(self) -> tuple[Path, str]:
        path, _, class_name = self.source.rpartition(":")
        return Path(path), class_name

    def tagger(self, cfg: TrainConfig) -> Tagger:
        """The model as the training program takes it (built-ins read their sizes from `cfg` only for the BiLSTM)."""
        if self.is_xgboost:
            raise ModelError(f"model {self.name}: XGBoost is not a Flax model; it trains outside the program")
        if not self.is_plugin:
            return BUILTINS[self.source].build(cfg)
        path, class_name = self.plugin_location()
        return Tagger(_construct(load_plugin_class(path, class_name), self.name))

    def source_files(self) -> list[Path]:
        """Files whose bytes decide this model's numbers (part of its training-cache key)."""
        if self.is_plugin:
            return [self.plugin_location()[0]]
        own = BUILTINS[self.source].files
        return [HERE / name for name in (*own, *_SHARED_FILES)] if own else []


def parse_model(text: str) -> ModelSpec:
    """A `--models` entry: a registry name, or `path/to/file.py:ClassName` (checked: file, class, construction)."""
    text = text.strip()
    if text in BUILTINS:
        return ModelSpec(text, text)
    path_text, colon, class_name = text.rpartition(":")
    if not colon or not path_text.endswith(".py") or not class_name.isidentifier():
        raise ModelError(
            f"unknown model {text!r}: the built-ins are {known_models()}; "
            "a model of your own is given as path/to/file.py:ClassName"
        )
    path = Path(path_text).expanduser().resolve()
    module_class = load_plugin_class(path, class_name)
    _construct(module_class, class_name)
    return ModelSpec(class_name, f"{path}:{class_name}")


def parse_models(text: str | list[str] | tuple[str, ...]) -> tuple[ModelSpec, ...]:
    """Comma-separated `--models` (or a list of entries) -> specs with distinct row names, in the order given."""
    entries = [e for part in ([text] if isinstance(text, str) else text) for e in part.split(",") if e.strip()]
    if not entries:
        raise ModelError(f"--models names no model; the built-ins are {known_models()}")
    specs = [parse_model(e) for e in entries]
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ModelError(f"--models names {', '.join(repeated)} more than once (rows are named by class)")
    return tuple(specs)


_LOADED: dict[tuple, object] = {}  # (path, size, mtime) -> the imported module, so one file is executed once


def load_plugin_class(path: Path, class_name: str) -> type:
    """The class `class_name` of the Python file `path`, checked to be a `flax.linen.Module` subclass."""
    where = f"{path}:{class_name}"
    if not path.is_file():
        raise ModelError(f"model {where}: no such file {path}")
    stat = path.stat()
    stamp = (str(path), stat.st_size, stat.st_mtime_ns)
    if stamp not in _LOADED:
        module_name = "restasmr_plugin_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclass fields (Flax modules) look their module up here
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any failure becomes one line naming the file
            del sys.modules[module_name]
            raise ModelError(f"model {where}: importing {path.name} failed: {type(exc).__name__}: {exc}") from None
        _LOADED[stamp] = module
    module = _LOADED[stamp]
    found = getattr(module, class_name, None)
    if found is None:
        modules = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, nn.Module) and v is not nn.Module
        )
        raise ModelError(
            f"model {where}: {path.name} defines no {class_name!r} "
            f"(Flax modules in it: {', '.join(modules) if modules else 'none'})"
        )
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ModelError(
            f"model {where}: {class_name} is not a flax.linen.Module subclass (it is {type(found).__name__} "
            f"{getattr(found, '__qualname__', found)!r})"
        )
    return found


def _construct(module_class: type, name: str) -> nn.Module:
    try:
        return module_class()
    except Exception as exc:  # the user's constructor
        raise ModelError(
            f"model {name}: {module_class.__name__}() cannot be built without arguments "
            f"({type(exc).__name__}: {exc}); give every field a default"
        ) from None


def module_config(tagger: Tagger) -> dict:
    """The module's fields and the tagger's form, JSON-ready (part of the training-cache key)."""
    module = tagger.module
    fields = {f.name: getattr(module, f.name) for f in dataclasses.fields(module) if f.name not in ("parent", "name")}
    return {
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "fields": {k: v if isinstance(v, (bool, int, float, str, type(None))) else repr(v) for k, v in fields.items()},
        "factorised": tagger.factorised,
        "initializer": None if tagger.initializer is None else tagger.initializer.__qualname__,
    }


def check_tagger(tagger: Tagger, name: str, n_shared: int, n_own: int) -> None:
    """Trace `tagger` on a tiny batch (no compilation): parameters only, logits [batch, time, 2] in both modes."""
    n_features = n_shared + n_own
    key = jax.random.PRNGKey(0)
    inputs = FrameInputs(
        shared=jnp.zeros((CHECK_BATCH, CHECK_TIME, n_shared), jnp.float32),
        stim_pos=jnp.arange(CHECK_BATCH, dtype=jnp.int32),
        own=jnp.zeros((CHECK_BATCH, CHECK_TIME, n_own), jnp.float32),
        mask=jnp.ones((CHECK_BATCH, CHECK_TIME), bool),
    )
    described = f"x [{CHECK_BATCH}, {CHECK_TIME}, {n_features}] and mask [{CHECK_BATCH}, {CHECK_TIME}]"
    if tagger.initializer is None and not tagger.factorised:
        collections = _collections(tagger, n_features, name, described)
        extra = sorted(set(collections) - {"params"})
        if extra:
            raise ModelError(
                f"model {name}: it keeps state besides its parameters (collections {', '.join(extra)}); the "
                "training program trains parameters only (e.g. LayerNorm instead of BatchNorm)"
            )
    expected = (CHECK_BATCH, CHECK_TIME, N_CLASSES)
    try:
        params = jax.eval_shape(lambda k: tagger.init(k, n_features), key)
        shapes = [jax.eval_shape(tagger.logits, params, inputs, dropout_key) for dropout_key in (None, key)]
    except ModelError:
        raise
    except Exception as exc:  # the user's module: one line, not a traceback from inside Flax
        raise ModelError(
            f"model {name}: calling it on {described} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    for mode, out in zip(("evaluation", "training"), shapes):
        shape = getattr(out, "shape", None)
        if shape != expected or not jnp.issubdtype(out.dtype, jnp.floating):
            returned = f"shape {list(shape)} {out.dtype}" if shape is not None else f"a {type(out).__name__}"
            raise ModelError(
                f"model {name}: in {mode} mode, on {described}, it returned {returned}; "
                f"expected float logits [batch, time, {N_CLASSES}] = {list(expected)}"
            )


def _collections(tagger: Tagger, n_features: int, name: str, described: str) -> dict:
    x = jnp.zeros((1, 1, n_features), jnp.float32)
    try:
        return jax.eval_shape(
            lambda k: tagger.module.init({"params": k}, x, jnp.ones((1, 1), bool), train=False), jax.random.PRNGKey(0)
        )
    except Exception as exc:  # the user's module
        raise ModelError(
            f"model {name}: calling it on {described} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


def n_parameters(tagger: Tagger, n_features: int) -> int:
    """Trainable values of one seed x fold replica of `tagger` on `n_features` input columns."""
    shapes = jax.eval_shape(lambda k: tagger.init(k, n_features), jax.random.PRNGKey(0))
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(shapes)))
