"""batou-run components in Python, the batou way (contract ``batou:deploy@0.2.2``).

A module is one ``app.py`` that subclasses :class:`Component` once per
kind. The runner builds it with componentize-py against ``wit/`` (the
``deployment-component`` world) and this package::

    from batou_sdk import Component, Attribute, UpdateNeeded, files

    class Motd(Component):
        \"\"\"The message of the day.\"\"\"
        path = Attribute(str, doc="Where it goes")
        text = Attribute(str, default="Welcome\\n")

        def configure(self):
            self.provide("motd", self.path)

        def verify(self):
            if files.read_text(self.path, missing="") != self.text:
                raise UpdateNeeded(f"{self.path} differs")

        def update(self):
            files.write(self.path, self.text)

A kind's name is its class name in lower case, or ``kind = "..."``.
``verify`` raising :class:`UpdateNeeded` (or an ``ensure_*`` helper
failing) asks for ``update``; returning means the target is up to date.

Everything this package returns is its own type (:class:`Stat`,
:class:`Output`, :class:`Child`, :class:`Host`, :class:`Writer`, ``bytes``,
``str``, plain JSON values): no record of the generated bindings reaches
a component.
"""

from __future__ import annotations

import hashlib
import json
import typing
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable, Generic, Iterator, List, Literal, Optional, TypeVar, Union, overload

from componentize_py_types import Err
from wit_world.imports import assets as _assets
from wit_world.imports import files as _files
from wit_world.imports import log as _log
from wit_world.imports import model as _model
from wit_world.imports import process as _process
from wit_world.imports import ssh as _ssh
from wit_world.imports import template as _template
from wit_world.imports import types as _types

__all__ = [
    "Attribute", "AttributeProblem", "Child", "Component", "Error", "Host", "Output", "Stat",
    "UpdateNeeded", "Writer", "assets", "check", "ensure", "ensure_content", "ensure_directory",
    "ensure_file", "ensure_mode", "ensure_symlink", "fail", "files", "log", "render", "render_asset",
    "render_from", "run",
]

# --- errors -------------------------------------------------------------------

#: The cases of the contract's ``call-error``, which a capability call
#: raises as :class:`Error` ``kind``; ``"failed"`` is a component's own.
ErrorKind = Literal[
    "access-denied", "not-found", "invalid", "io", "wrong-phase", "child-failed", "not-implemented", "failed",
]

_CALL_ERRORS: dict[type, str] = {
    _types.CallError_AccessDenied: "access-denied",
    _types.CallError_NotFound: "not-found",
    _types.CallError_Invalid: "invalid",
    _types.CallError_Io: "io",
    _types.CallError_WrongPhase: "wrong-phase",
    _types.CallError_ChildFailed: "child-failed",
    _types.CallError_NotImplemented: "not-implemented",
}
_CALL_CASES: dict[str, type] = {kind: case for case, kind in _CALL_ERRORS.items()}
ERROR_KINDS: tuple[str, ...] = (*_CALL_CASES, "failed")


class Error(Exception):
    """A failed capability call, or a failed component.

    ``kind`` is the contract's ``call-error`` case the runner returned
    (``access-denied``, ``not-found``, ``invalid``, ``io``,
    ``wrong-phase``, ``child-failed``, ``not-implemented``), or
    ``failed`` for a failure of the component's own (:func:`fail`);
    ``message`` is the text for the operator. Raised from a lifecycle step,
    a call's error reaches the runner as ``failure.call`` with its case
    (pass it on as it is), a ``failed`` one as ``failure.failed``.
    """

    def __init__(self, message: str, kind: ErrorKind = "failed") -> None:
        if kind not in ERROR_KINDS:
            raise TypeError(f"Error kind {kind!r} is not one of {', '.join(ERROR_KINDS)}")
        super().__init__(message)
        self.message: str = message
        self.kind: ErrorKind = kind

    @property
    def is_call(self) -> bool:
        """Whether this is a capability call's error (not ``failed``)."""
        return self.kind != "failed"

    def context(self, context: str) -> "Error":
        """The same error with ``context`` before the message:
        ``except Error as e: raise e.context("reading app.conf")``."""
        return Error(f"{context}: {self.message}", self.kind)

    def __repr__(self) -> str:
        return f"Error({self.message!r}, kind={self.kind!r})"


def fail(message: str) -> Error:
    """A ``failed`` :class:`Error` to raise: ``raise fail("port must be > 0")``.
    Say what happened and, if you know it, what to do about it."""
    return Error(message, "failed")


class AttributeProblem(Exception):
    """An attribute's value the component refuses, in a way its type cannot
    say (a port out of range, two attributes that exclude each other).

    Raised from a lifecycle step it reaches the runner as
    ``failure.attribute``, which names where the environment sets ``name``
    (``file:line``)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"attribute `{name}`: {message}")
        self.name: str = name
        self.message: str = message


class UpdateNeeded(Exception):
    """Raised by ``verify``: the target differs, ``update`` must run."""

    def __init__(self, reason: str = "update needed") -> None:
        super().__init__(reason)
        self.reason: str = reason


_R = TypeVar("_R")


def _call(function: Callable[..., _R], *args: Any) -> _R:
    """Calls an import, turning its ``call-error`` into :class:`Error`."""
    try:
        return function(*args)
    except Err as e:
        raise Error(e.value.value, _CALL_ERRORS.get(type(e.value), "failed")) from None  # type: ignore[arg-type]


def _to_failure(error: BaseException) -> Any:
    """The contract's ``failure`` for an exception a lifecycle step raised
    (component.py adds where a foreign exception came from)."""
    if isinstance(error, AttributeProblem):
        return _types.Failure_Attribute(_types.AttributeProblem(name=error.name, message=error.message))
    if isinstance(error, Error):
        case = _CALL_CASES.get(error.kind)
        if case is not None:
            return _types.Failure_Call(case(error.message))
        return _types.Failure_Failed(error.message)
    if isinstance(error, UpdateNeeded):
        # As in the Rust SDK: only verify may say so; elsewhere it is a bug.
        return _types.Failure_Failed(f"update needed outside verify: {error.reason}")
    return _types.Failure_Failed(f"{type(error).__name__}: {error}")


# --- attributes and kinds ---------------------------------------------------

_REQUIRED: Any = object()

_SCALARS: dict[Any, Any] = {
    str: _types.ScalarType.STRING,
    int: _types.ScalarType.INTEGER,
    float: _types.ScalarType.FLOAT,
    bool: _types.ScalarType.BOOLEAN,
    "mode": _types.ScalarType.MODE,
}
_TYPES: dict[Any, Any] = {
    str: _types.AttributeType_String(),
    int: _types.AttributeType_Integer(),
    float: _types.AttributeType_Float(),
    bool: _types.AttributeType_Boolean(),
    list: _types.AttributeType_List(),
    dict: _types.AttributeType_Table(),
    "mode": _types.AttributeType_Mode(),
    "any": _types.AttributeType_Any(),
}

_T = TypeVar("_T")


class Attribute(Generic[_T]):
    """A typed attribute of a kind, as batou's ``Attribute``.

    ``type`` is one of

    - ``str``, ``int``, ``float``, ``bool``, ``dict`` (a table),
      ``"mode"`` (permission bits: ``0o640``, ``"0640"`` or
      ``"rw-r-----"`` in the environment; the component receives an
      integer) or ``"any"``;
    - ``list`` (a list of any values) or a typed list, whose every
      element is checked: ``list[str]``, ``list[int]``, ``list[float]``,
      ``list[bool]``, or ``list_of=`` one of ``str``, ``int``, ``float``,
      ``bool``, ``"mode"`` (each mode normalised to an integer; a type
      checker reads ``list["mode"]`` as a name, so modes take ``list_of``);
    - ``choices=["a", "b"]`` (with ``type`` ``str`` or left out): one of
      these strings.

    Without ``default`` the attribute is required; ``default=None`` makes
    it optional (the component then receives ``None``). ``name`` is the
    attribute's name in the environment when it differs from the Python
    one (``from_ = Attribute(str, name="from")``: a keyword). The runner checks
    values against the type, with the file and line of a bad one, before
    the component sees them. A mistake in the declaration (an unknown
    type, a default that is no choice) fails the build.
    """

    @overload
    def __init__(
        self: "Attribute[str]", type: None = None, default: Any = ..., doc: str = "", *, choices: list[str], name: Optional[str] = None
    ) -> None: ...
    @overload
    def __init__(
        self: "Attribute[list[Any]]", type: None = None, default: Any = ..., doc: str = "", *, list_of: Any, name: Optional[str] = None
    ) -> None: ...
    @overload
    def __init__(
        self: "Attribute[int]", type: Literal["mode"], default: Any = ..., doc: str = "", *, name: Optional[str] = None
    ) -> None: ...
    @overload
    def __init__(
        self: "Attribute[Any]", type: Literal["any"], default: Any = ..., doc: str = "", *, name: Optional[str] = None
    ) -> None: ...
    @overload
    def __init__(
        self, type: "type[_T]", default: Any = ..., doc: str = "", *, choices: Optional[list[str]] = None, name: Optional[str] = None
    ) -> None: ...

    def __init__(
        self,
        type: Any = None,
        default: Any = _REQUIRED,
        doc: str = "",
        *,
        choices: Optional[list[str]] = None,
        list_of: Any = None,
        name: Optional[str] = None,
    ) -> None:
        if list_of is not None:
            if type not in (None, list) or choices is not None:
                raise TypeError(f"Attribute with list_of is a list, not {type!r} or a choice")
            if list_of not in _SCALARS:
                raise TypeError(f"Attribute list_of {list_of!r} is not one of str, int, float, bool, \"mode\"")
            self.wit_type: Any = _types.AttributeType_ListOf(_SCALARS[list_of])
            type = list
        elif choices is not None:
            if type not in (None, str):
                raise TypeError(f"Attribute with choices is a string, not {type!r}")
            choices = [str(c) for c in choices]
            if not choices:
                raise TypeError("Attribute choices must name at least one string")
            if default is not _REQUIRED and default is not None and default not in choices:
                raise TypeError(f"Attribute default {default!r} is not one of the choices {choices}")
            self.wit_type = _types.AttributeType_Choice(choices)
            type = str
        elif typing.get_origin(type) is list:
            (element,) = typing.get_args(type) or (None,)
            if isinstance(element, typing.ForwardRef):
                element = element.__forward_arg__
            if element not in _SCALARS:
                raise TypeError(f"Attribute list element type {element!r} is not one of str, int, float, bool, \"mode\"")
            self.wit_type = _types.AttributeType_ListOf(_SCALARS[element])
        else:
            type = str if type is None else type
            if type not in _TYPES:
                raise TypeError(
                    f"Attribute type {type!r} is not one of str, int, float, bool, list, list[...], dict, \"mode\", \"any\""
                )
            self.wit_type = _TYPES[type]
        self.type: Any = type
        self.choices: Optional[list[str]] = choices
        self.default: Any = default
        self.doc: str = doc
        #: The name in the environment, and the Python attribute's.
        self.name: str = name or ""
        self.attr: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name
        self.name = self.name or name

    @overload
    def __get__(self, obj: None, owner: type) -> "Attribute[_T]": ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...

    def __get__(self, obj: Optional[object], owner: type) -> Any:
        # A component's attributes are set on the instance when it is
        # created, which wins over this (a non-data descriptor).
        if obj is None:
            return self
        if self.default is _REQUIRED:
            raise AttributeError(f"attribute `{self.name}` is not set")
        return self.default

    @property
    def required(self) -> bool:
        """Whether the environment must set it."""
        return self.default is _REQUIRED

    def _spec(self) -> Any:
        default = None if self.default is _REQUIRED else json.dumps(self.default)
        return _types.AttributeSpec(name=self.name, type=self.wit_type, default=default, doc=self.doc)


@dataclass(frozen=True)
class Host:
    """The host a component is deployed to."""

    #: The host's name, as written in the environment.
    name: str
    #: Its fully qualified name (``host_domain`` appended, if set).
    fqdn: str
    #: Its ``data`` table from the environment.
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Child:
    """A sub-component :meth:`Component.add` configured."""

    #: Its path, such as ``hello > file('a.txt')``.
    path: str
    #: Its attributes as the runner checked them, defaults filled in.
    attributes: dict[str, Any]
    #: What its configure exposed (:meth:`Component.expose`), by name.
    exposed: dict[str, Any]


class Component:
    """Base class of a kind of component; subclass it once per kind.

    The lifecycle is batou's: ``configure`` adds sub-components
    (:meth:`add`), exposes, provides and requires; ``verify`` checks the
    target (read-only) and raises :class:`UpdateNeeded` when ``update``
    must run; ``update`` changes the target. A step may raise
    :class:`Error` (a call's error, or :func:`fail`) or
    :class:`AttributeProblem`; any other exception fails the component
    with its type, message, file and line.
    """

    kind: str = ""
    _kinds: dict[str, "type[Component]"] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("kind") or cls.__name__.lower()
        if name in Component._kinds:
            raise TypeError(f"kind `{name}` is defined twice in this module")
        cls.kind = name
        Component._kinds[name] = cls

    @classmethod
    def _attributes(cls) -> list[Attribute[Any]]:
        seen: dict[str, Attribute[Any]] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Attribute):
                    seen[value.name] = value
        return list(seen.values())

    @classmethod
    def _spec(cls) -> Any:
        doc = (cls.__doc__ or cls.kind).strip().splitlines()[0]
        return _types.KindSpec(name=cls.kind, doc=doc, attributes=[a._spec() for a in cls._attributes()])

    # componentize-py calls `describe` on the app module's `Component`,
    # which is this class: it lists every kind the module defines.
    def describe(self) -> list[Any]:
        return [cls._spec() for cls in Component._kinds.values()]

    # The lifecycle; subclasses override what they need.
    def configure(self) -> None:
        """Adds sub-components, exposes, provides and requires: a pure
        function of the attributes and the required values."""

    def verify(self) -> None:
        """Checks the target, read-only; raise :class:`UpdateNeeded` (or use
        an ``ensure_*`` helper) when ``update`` must run."""

    def update(self) -> None:
        """Brings the target to the described state."""

    # The model (configure only).
    def add(self, kind: str, name: str, /, **attributes: Any) -> Child:
        """Adds a sub-component of ``kind`` (any kind the runner knows, in
        any language) named ``name``, deployed before this one, and
        configures it at once: the :class:`Child` holds its path, its
        checked attributes (defaults filled in) and what it exposed.
        ``kind`` and ``name`` are positional, so the child may have
        attributes of those names (``self.add("child", "a", name="a")``).

        An unknown kind or a bad attribute raises ``invalid``; a child whose
        configure failed raises ``child-failed`` (the runner reports why
        under the child's path): let it pass."""
        child = _call(_model.add, kind, name, json.dumps(attributes))
        return Child(path=child.path, attributes=json.loads(child.attributes), exposed=json.loads(child.exposed))

    def expose(self, name: str, value: Any) -> None:
        """Makes ``value`` (anything JSON can hold) readable by the
        component that added this one, in its :attr:`Child.exposed`."""
        _call(_model.expose, name, json.dumps(value))

    def provide(self, key: str, value: Any) -> None:
        """Offers ``value`` (anything JSON can hold) under ``key``."""
        _call(_model.provide, key, json.dumps(value))

    def require(self, key: str, *, host_only: bool = False, strict: bool = True, reverse: bool = False) -> list[Any]:
        """The values provided under ``key``, as a list (only those of this
        host with ``host_only``). Strict (the default): with none yet, the
        runner configures this component again once more values exist, and
        reports the requirement if none ever come; the call still returns
        ``[]``, so configure goes on. ``reverse``: deploy this component
        before the providers rather than after them."""
        values: list[Any] = json.loads(_call(_model.require, key, _require_options(host_only, strict, reverse)))
        return values

    def require_one(self, key: str, *, host_only: bool = False, strict: bool = True, reverse: bool = False) -> Any:
        """The one value provided under ``key`` (options as :meth:`require`);
        a ``failed`` :class:`Error` if there is none or more than one."""
        values = self.require(key, host_only=host_only, strict=strict, reverse=reverse)
        if len(values) == 1:
            return values[0]
        if not values:
            raise Error(f"no value is provided under `{key}`")
        raise Error(f"{len(values)} values are provided under `{key}`, where exactly one is wanted")

    @property
    def host(self) -> Host:
        """This host: ``name``, ``fqdn`` and ``data`` (the environment's table)."""
        return Host(_model.host_name(), _model.host_fqdn(), json.loads(_model.host_data()))

    def secret_file(self, name: str) -> bytes:
        """The content of the environment's secret file ``name``
        (``environments/<env>/secret-<name>.age``), in any lifecycle step.
        The root's grants must name it (``secret_files = ["<name>"]`` in
        ``[grants.<root>]``); the runner masks it in everything it shows."""
        return bytes(_call(_model.secret_file, name))

    @property
    def environment(self) -> str:
        """The environment's name, such as ``dev``."""
        return _model.environment_name()

    @property
    def component_path(self) -> str:
        """This component's path for messages, such as ``hello > file('a.txt')``."""
        return _model.component_path()

    @property
    def workdir(self) -> str:
        """The root's working directory as the plan states it."""
        return _model.workdir()

    @property
    def changed(self) -> bool:
        """Whether a sub-component changed in this deploy (in ``verify`` and
        ``update``)."""
        return _model.changed()

    def expand(self, source: str, /, **context: Any) -> str:
        """Renders a Jinja2 template with ``host``, ``environment`` and the
        keyword arguments as its variables."""
        return render(source, **context)


def _require_options(host_only: bool, strict: bool, reverse: bool) -> Any:
    options = _model.RequireOptions(0)
    if host_only:
        options |= _model.RequireOptions.HOST_ONLY
    if strict:
        options |= _model.RequireOptions.STRICT
    if reverse:
        options |= _model.RequireOptions.REVERSE
    return options


# --- templates ----------------------------------------------------------------

def render(source: str, /, **context: Any) -> str:
    """Renders a Jinja2 template (strict undefined) with the runner: the
    keyword arguments are its variables, beside ``host``, ``environment``
    and ``batou_generated_header``."""
    return _call(_template.render, source, json.dumps(context))


def render_from(source: str, context: dict[str, Any], *, asset: Optional[str] = None, attribute: Optional[str] = None) -> str:
    """:func:`render`, with errors naming where ``source`` comes from: the
    asset ``asset`` (its path in the deployment and the line) or the
    attribute ``attribute`` (the file and line of the environment that sets
    it). Give one of the two."""
    if (asset is None) == (attribute is None):
        raise TypeError("render_from needs one of asset= and attribute=")
    origin = _template.Origin_Asset(asset) if asset is not None else _template.Origin_Attribute(attribute)  # type: ignore[arg-type]
    return _call(_template.render_from, source, json.dumps(context), origin)


def render_asset(name: str, /, **context: Any) -> str:
    """Renders the asset ``name`` as a template; errors name the asset and
    the line."""
    return render_from(assets.read_text(name), context, asset=name)


# --- files --------------------------------------------------------------------

FileKind = Literal["file", "directory", "symlink", "other"]
_FILE_KINDS: dict[Any, str] = {
    _types.FileKind.FILE: "file",
    _types.FileKind.DIRECTORY: "directory",
    _types.FileKind.SYMLINK: "symlink",
    _types.FileKind.OTHER: "other",
}
_KIND_WORDS = {"file": "a file", "directory": "a directory", "symlink": "a symlink", "other": "a device, socket or pipe"}


@dataclass(frozen=True)
class Stat:
    """What :meth:`files.stat <_Files.stat>` learns about a path, without
    following a final symlink."""

    #: ``"file"``, ``"directory"``, ``"symlink"`` or ``"other"`` (a device,
    #: socket or pipe).
    kind: FileKind
    #: Size in bytes.
    size: int
    #: Permission bits, such as ``0o644``.
    mode: int
    #: Numeric owner and group.
    uid: int
    gid: int
    #: Owner and group names, if the target's databases know them.
    owner: Optional[str]
    group: Optional[str]

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def is_dir(self) -> bool:
        return self.kind == "directory"

    @property
    def is_symlink(self) -> bool:
        return self.kind == "symlink"


#: What a file's content may be given as: bytes, or text (written as UTF-8).
Data = Union[bytes, bytearray, memoryview, str]


def _bytes(data: Data) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"data must be bytes or str, not {type(data).__name__}")


class Writer:
    """A file being written in pieces (:meth:`files.create_writer
    <_Files.create_writer>`): its bytes go to a temporary file beside the
    path, and :meth:`finish` puts it in place atomically, as
    :meth:`files.write <_Files.write>` does.

    Use it as a context manager: leaving the ``with`` block normally
    finishes it; leaving it with an exception leaves the path as it was.
    A writer closed without :meth:`finish` leaves the path as it was::

        with files.create_writer("big.bin", mode=0o600) as out:
            for piece in assets.read_chunks("big.bin"):
                out.write(piece)
    """

    def __init__(self, path: str, handle: Any) -> None:
        self.path: str = path
        self._handle: Any = handle
        self._finished = False

    def _open(self) -> Any:
        if self._handle is None:
            raise Error(f"the writer of {self.path} is closed", "invalid")
        return self._handle

    def append(self, data: Data) -> None:
        """Appends ``data`` to what was written so far."""
        _call(self._open().append, _bytes(data))

    def write(self, data: Data) -> int:
        """:meth:`append`, returning the number of bytes, as a file's
        ``write`` does (so a writer is a target for ``shutil.copyfileobj``)."""
        piece = _bytes(data)
        _call(self._open().append, piece)
        return len(piece)

    def finish(self) -> None:
        """Puts the file in place; the writer takes no more data."""
        _call(self._open().finish)
        self._finished = True
        self.close()

    def close(self) -> None:
        """Releases the writer; unless it was finished, the path stays as
        it was and the temporary file is removed."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.__exit__(None, None, None)

    @property
    def finished(self) -> bool:
        return self._finished

    def __enter__(self) -> "Writer":
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        try:
            if exc_type is None and not self._finished and self._handle is not None:
                self.finish()
        finally:
            self.close()


#: The default size of a piece for the ``read_chunks`` helpers: 1 MiB.
CHUNK = 1 << 20


class _Files:
    """The target's files, as the phase and the grants allow; relative
    paths are relative to the root's workdir. Every call raises
    :class:`Error` with the runner's case (``not-found``,
    ``access-denied``, ...) when it fails."""

    def stat(self, path: str) -> Optional[Stat]:
        """What is at ``path`` (a final symlink not followed), or ``None``."""
        s = _call(_files.stat, path)
        if s is None:
            return None
        return Stat(
            kind=_FILE_KINDS[s.kind], size=s.size, mode=s.mode, uid=s.uid, gid=s.gid, owner=s.owner, group=s.group,  # type: ignore[arg-type]
        )

    def exists(self, path: str) -> bool:
        """Whether anything (a file, directory, symlink, ...) is at ``path``."""
        return _call(_files.stat, path) is not None

    def read(self, path: str) -> bytes:
        """A whole file's bytes; for a large one, see :meth:`read_at`."""
        return bytes(_call(_files.read, path))

    def read_text(self, path: str, missing: Optional[str] = None) -> str:
        """The file as UTF-8 text; ``missing`` if it does not exist (when given)."""
        if missing is not None and not self.exists(path):
            return missing
        return self.read(path).decode()

    def read_at(self, path: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes of the file from ``offset``: fewer at its
        end, none from there on."""
        return bytes(_call(_files.read_at, path, offset, length))

    def read_chunks(self, path: str, size: int = CHUNK) -> Iterator[bytes]:
        """The file's bytes in pieces of ``size`` (the last one shorter),
        without holding the whole file in memory."""
        offset = 0
        while True:
            piece = self.read_at(path, offset, size)
            if not piece:
                return
            yield piece
            offset += len(piece)

    def digest(self, path: str) -> Optional[str]:
        """The file's sha256 in lowercase hex, computed on the target, or
        ``None`` for a missing file."""
        return _call(_files.digest, path)

    def write(self, path: str, data: Data, mode: Optional[int] = None) -> None:
        """Replaces the file's bytes atomically; ``mode`` applies to a new
        file (an existing one keeps its mode, owner and group)."""
        _call(_files.write, path, _bytes(data), mode)

    def create_writer(self, path: str, mode: Optional[int] = None) -> Writer:
        """A :class:`Writer` for ``path``, with the rules of :meth:`write`;
        use it in a ``with`` block. Only during ``update``."""
        return Writer(path, _call(_files.create_writer, path, mode))

    def mkdir(self, path: str, parents: bool = True) -> None:
        """Creates a directory, with missing parents if ``parents``."""
        _call(_files.mkdir, path, parents)

    def remove(self, path: str, recursive: bool = False) -> None:
        """Removes a file, symlink or directory (its contents too if
        ``recursive``); removing nothing is not an error."""
        _call(_files.remove, path, recursive)

    def symlink(self, target: str, link: str) -> None:
        """Creates a symlink at ``link`` pointing to ``target``."""
        _call(_files.symlink, target, link)

    def read_link(self, path: str) -> str:
        """Where the symlink at ``path`` points."""
        return _call(_files.read_link, path)

    def set_mode(self, path: str, mode: int) -> None:
        """Sets a path's permission bits, such as ``0o644``."""
        _call(_files.set_mode, path, mode)

    def set_owner(self, path: str, owner: Optional[str] = None, group: Optional[str] = None) -> None:
        """Sets a path's owner and/or group by name."""
        _call(_files.set_owner, path, owner, group)

    def list(self, path: str) -> List[str]:
        """The names of a directory's entries, sorted."""
        return list(_call(_files.list, path))

    def glob(self, pattern: str) -> List[str]:
        """The paths matching a glob pattern (``*``, ``?``, ``[...]``, ``**``), sorted."""
        return list(_call(_files.glob, pattern))

    def resolve(self, path: str) -> str:
        """The absolute path on the target that ``path`` names (verify and update)."""
        return _call(_files.resolve, path)


files = _Files()


class _Assets:
    """Files shipped beside the component (its folder); in every step."""

    def read(self, name: str) -> bytes:
        """The asset's bytes."""
        return bytes(_call(_assets.read, name))

    def read_text(self, name: str) -> str:
        """The asset as UTF-8 text."""
        return self.read(name).decode()

    def read_at(self, name: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes of the asset from ``offset`` (see
        :meth:`files.read_at <_Files.read_at>`)."""
        return bytes(_call(_assets.read_at, name, offset, length))

    def read_chunks(self, name: str, size: int = CHUNK) -> Iterator[bytes]:
        """The asset's bytes in pieces of ``size``."""
        offset = 0
        while True:
            piece = self.read_at(name, offset, size)
            if not piece:
                return
            yield piece
            offset += len(piece)

    def digest(self, name: str) -> str:
        """The asset's sha256 in lowercase hex, without reading it here."""
        return _call(_assets.digest, name)

    def list(self, name: str = "") -> List[str]:
        """The asset files beneath the folder ``name``, relative to it, sorted."""
        return list(_call(_assets.list, name))


assets = _Assets()


class _Log:
    """Messages shown with the component's path."""

    def debug(self, message: object) -> None:
        _log.log(_log.Level.DEBUG, str(message))

    def info(self, message: object) -> None:
        _log.log(_log.Level.INFO, str(message))

    def warn(self, message: object) -> None:
        _log.log(_log.Level.WARN, str(message))

    def error(self, message: object) -> None:
        _log.log(_log.Level.ERROR, str(message))

    def diff(self, path: str, old: Data, new: Data) -> None:
        """Reports how the file at ``path`` changes (or would): the runner
        shows a unified diff of ``old`` and ``new``."""
        _log.diff(path, _bytes(old), _bytes(new))


log = _Log()


# --- commands -----------------------------------------------------------------

@dataclass(frozen=True)
class Output:
    """What a finished command produced."""

    #: The exit status, or -1 when a signal ended the program.
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        """Whether it exited with status 0."""
        return self.status == 0

    @property
    def text(self) -> str:
        """Standard output as text (invalid UTF-8 replaced)."""
        return self.stdout.decode(errors="replace")

    @property
    def stderr_text(self) -> str:
        """Standard error as text (invalid UTF-8 replaced)."""
        return self.stderr.decode(errors="replace")

    def describe_status(self) -> str:
        """How the program ended, for messages: ``exited with status 2``."""
        return "was ended by a signal" if self.status == -1 else f"exited with status {self.status}"


def run(
    program: str,
    *args: object,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[str] = None,
    stdin: Optional[Data] = None,
    timeout: Optional[float] = None,
    host: Optional[str] = None,
) -> Output:
    """Runs a granted program (no shell) here, or on ``host`` through the
    runner's SSH connection; a non-zero status is returned, not raised.
    ``timeout`` is in seconds."""
    cmd = _types.Command(
        program=program,
        args=[str(a) for a in args],
        env=sorted((env or {}).items()),
        cwd=cwd,
        stdin=None if stdin is None else _bytes(stdin),
        timeout_ms=None if timeout is None else int(timeout * 1000),
    )
    out = _call(_ssh.run, host, cmd) if host else _call(_process.run, cmd)
    return Output(out.status, bytes(out.stdout), bytes(out.stderr))


def check(
    program: str,
    *args: object,
    env: Optional[dict[str, str]] = None,
    cwd: Optional[str] = None,
    stdin: Optional[Data] = None,
    timeout: Optional[float] = None,
    host: Optional[str] = None,
) -> Output:
    """As :func:`run`, but a non-zero status raises a ``failed``
    :class:`Error` with the status and the end of stderr."""
    out = run(program, *args, env=env, cwd=cwd, stdin=stdin, timeout=timeout, host=host)
    if not out.ok:
        words = " ".join([program, *map(str, args)])
        tail = out.stderr_text.strip()[-2000:]
        where = f" on {host}" if host else ""
        raise Error(f"`{words}`{where} {out.describe_status()}" + (f":\n{tail}" if tail else ""))
    return out


# --- ensure helpers (for verify) ----------------------------------------------

def ensure(condition: object, reason: str) -> None:
    """Raises :class:`UpdateNeeded` with ``reason`` unless ``condition``."""
    if not condition:
        raise UpdateNeeded(reason)


def _ensure_kind(path: str, wanted: str) -> None:
    stat = files.stat(path)
    if stat is None:
        raise UpdateNeeded(f"{path} is missing")
    if stat.kind != wanted:
        raise fail(f"{path} is {_KIND_WORDS[stat.kind]}, not {_KIND_WORDS[wanted]}: remove it, or choose another path")


def ensure_file(path: str) -> None:
    """Up to date if a regular file is at ``path``; :class:`UpdateNeeded`
    if nothing is there; anything else there is an error to resolve."""
    _ensure_kind(path, "file")


def ensure_directory(path: str) -> None:
    """Up to date if a directory is at ``path``; :class:`UpdateNeeded` if
    nothing is there; anything else there is an error to resolve."""
    _ensure_kind(path, "directory")


def ensure_content(path: str, wanted: Data) -> None:
    """Asks for an update when ``path`` does not hold ``wanted``, and
    reports the difference as a diff."""
    data = _bytes(wanted)
    digest = files.digest(path)
    if digest is None:
        log.diff(path, b"", data)
        raise UpdateNeeded("file is missing")
    if digest != hashlib.sha256(data).hexdigest():
        log.diff(path, files.read(path), data)
        raise UpdateNeeded("content changed")


def ensure_mode(path: str, mode: int) -> None:
    """Asks for an update when ``path`` does not have the permission bits
    ``mode`` (a symlink has none)."""
    wanted = mode & 0o7777
    stat = files.stat(path)
    if stat is None:
        raise UpdateNeeded(f"{path} is missing")
    if stat.is_symlink:
        return
    if stat.mode & 0o7777 != wanted:
        raise UpdateNeeded(f"mode is {stat.mode & 0o7777:04o}, wanted {wanted:04o}")


def ensure_symlink(path: str, target: str) -> None:
    """Up to date if ``path`` is a symlink to ``target``; :class:`UpdateNeeded`
    if nothing is there or it points elsewhere; anything else there is an
    error to resolve."""
    stat = files.stat(path)
    if stat is None:
        raise UpdateNeeded(f"{path} is missing")
    if not stat.is_symlink:
        raise fail(f"{path} is {_KIND_WORDS[stat.kind]}, not a symlink: remove it, or choose another path")
    current = files.read_link(path)
    ensure(current == target, f"points to {current}, wanted {target}")
