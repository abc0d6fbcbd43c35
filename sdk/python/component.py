"""The exported resource `instance` of the `component` interface: one
configured component, dispatched to the batou_sdk kind it was created as.

componentize-py looks for an exported interface's resources in a module
named after the interface; this is it. Component authors never import it.
"""

import json
import traceback

from componentize_py_types import Err
from wit_world.exports import component as _exports
from wit_world.imports import types as _types

import batou_sdk


def _failure(error):
    """The WIT error for an exception, with where it came from when it is
    not one of batou_sdk's own."""
    wit = batou_sdk._to_wit_error(error)
    if not isinstance(error, (batou_sdk.Error, batou_sdk.UpdateNeeded)):
        frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.endswith("component.py")]
        if frames:
            last = frames[-1]
            wit = type(wit)(f"{wit.value} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})")
    return Err(wit)


class Instance(_exports.Instance):
    def __init__(self, component):
        self.component = component

    @classmethod
    def create(cls, kind, attributes):
        kind_class = batou_sdk.Component._kinds.get(kind)
        if kind_class is None:
            raise Err(_types.Error_Invalid(f"this module has no kind `{kind}`"))
        try:
            component = kind_class.__new__(kind_class)
            for name, value in json.loads(attributes).items():
                setattr(component, name, value)
            init = getattr(component, "__post_init__", None)
            if init is not None:
                init()
        except Exception as error:
            raise _failure(error)
        return cls(component)

    def configure(self):
        try:
            self.component.configure()
        except Exception as error:
            raise _failure(error)

    def verify(self):
        try:
            self.component.verify()
        except batou_sdk.UpdateNeeded as needed:
            return _types.VerifyResult_UpdateNeeded(needed.reason)
        except Exception as error:
            raise _failure(error)
        return _types.VerifyResult_UpToDate()

    def update(self):
        try:
            self.component.update()
        except Exception as error:
            raise _failure(error)
