"""The exported resource `instance` of the `component` interface: one
configured component, dispatched to the batou_sdk kind it was created as.

componentize-py looks for an exported interface's resources in a module
named after the interface; this is it. Component authors never import it.

Every step catches what the component raises and returns the contract's
`failure`: `batou_sdk.AttributeProblem` as `attribute`, a
`batou_sdk.Error` of a call as `call` (with its case), any other as
`failed` (a foreign exception with its type and the file and line it came
from). Nothing a component raises as an `Exception` traps.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from componentize_py_types import Err
from wit_world.exports import component as _exports
from wit_world.imports import types as _types

import batou_sdk


def _failure(error: BaseException) -> Err[Any]:
    """The contract's failure for an exception, with where it came from
    when it is not one of batou_sdk's own."""
    failure = batou_sdk._to_failure(error)
    own = (batou_sdk.Error, batou_sdk.UpdateNeeded, batou_sdk.AttributeProblem)
    if isinstance(failure, _types.Failure_Failed) and not isinstance(error, own):
        frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.endswith("component.py")]
        if frames:
            last = frames[-1]
            failure = _types.Failure_Failed(f"{failure.value} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})")
    return Err(failure)


class Instance(_exports.Instance):
    def __init__(self, component: batou_sdk.Component) -> None:
        self.component = component

    @classmethod
    def create(cls, kind: str, attributes: str) -> "Instance":
        kind_class = batou_sdk.Component._kinds.get(kind)
        if kind_class is None:
            known = ", ".join(batou_sdk.Component._kinds) or "none"
            raise Err(_types.Failure_Failed(f"this module has no kind `{kind}`; it exports: {known}"))
        try:
            component = kind_class.__new__(kind_class)
            values: dict[str, Any] = json.loads(attributes)
            # An attribute may have another name in Python than in the
            # environment (`from_ = Attribute(str, name="from")`).
            python_names = {a.name: a.attr for a in kind_class._attributes()}
            for name, value in values.items():
                setattr(component, python_names.get(name, name), value)
            init = getattr(component, "__post_init__", None)
            if init is not None:
                init()
        except Exception as error:
            raise _failure(error)
        return cls(component)

    def configure(self) -> None:
        try:
            self.component.configure()
        except Exception as error:
            raise _failure(error)

    def verify(self) -> Any:
        try:
            self.component.verify()
        except batou_sdk.UpdateNeeded as needed:
            return _types.VerifyResult_UpdateNeeded(needed.reason)
        except Exception as error:
            raise _failure(error)
        return _types.VerifyResult_UpToDate()

    def update(self) -> None:
        try:
            self.component.update()
        except Exception as error:
            raise _failure(error)
