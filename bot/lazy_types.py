"""Import aiogram with its Telegram types and methods built on first use instead of all at import.

aiogram declares ~400 types with pydantic's `defer_build`, then calls `model_rebuild()` on every one at
the end of `aiogram.types` (to resolve their forward references), which builds every schema at once;
its ~170 methods are built as they are declared. Together: 100 MiB and 3 s of CPU in every process
(aiogram issue #1513), while the bot uses a few dozen of them. Here, while aiogram is imported:

- `model_rebuild(_types_namespace=...)` on an aiogram type puts the names of that namespace (the other
  types, which its module imports only for type checkers) into the type's module instead of building;
- the methods' base class gets `defer_build` before the methods are declared.

Pydantic then builds each model, the same schema, the first time one is validated or created (the
deferred build that `defer_build` is for), looking its names up in its module.

`import_aiogram()` runs from `bot/__init__.py`, so any entry point that imports our code first gets it. If
aiogram was imported before, nothing changes and everything is built eagerly, as without this module.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from pydantic import BaseModel

_METHODS_BASE = "aiogram.methods.base"


def import_aiogram() -> None:
    if "aiogram" in sys.modules:
        return
    original = BaseModel.__dict__["model_rebuild"]

    def remember_namespace(cls: type[BaseModel], **kwargs: Any) -> bool | None:
        namespace = kwargs.get("_types_namespace")
        if namespace is not None and cls.__module__.startswith("aiogram.") and not kwargs.get("force"):
            module = vars(sys.modules[cls.__module__])
            for name, value in namespace.items():
                module.setdefault(name, value)
            return None
        # Anything else rebuilds as usual; one frame deeper than pydantic expects, hence the + 1.
        kwargs["_parent_namespace_depth"] = kwargs.get("_parent_namespace_depth", 2) + 1
        return original.__func__(cls, **kwargs)

    finder = _DeferMethods()
    sys.meta_path.insert(0, finder)
    BaseModel.model_rebuild = classmethod(remember_namespace)  # type: ignore[assignment,method-assign]
    try:
        import aiogram.types  # noqa: F401 - the import is the point
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


class _DeferMethods(importlib.abc.MetaPathFinder):
    """Sets `defer_build` on `TelegramMethod` as soon as its module has run, before any method exists."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != _METHODS_BASE:
            return None
        sys.meta_path.remove(self)  # once; the import system's own finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            module.TelegramMethod.model_config["defer_build"] = True

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
