"""batou-run components in Python, the batou way.

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
"""

import hashlib
import json

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
    "Attribute", "Component", "Error", "UpdateNeeded", "Output", "files", "assets", "log",
    "run", "check", "render", "ensure", "ensure_file", "ensure_directory", "ensure_content",
    "ensure_mode", "ensure_symlink",
]


class Error(Exception):
    """A failed capability call or a failed component.

    ``kind`` is the WIT error case (``access-denied``, ``not-found``,
    ``invalid``, ``io``, ``command-failed``, ``wrong-phase``,
    ``unsatisfied``, ``not-implemented`` or ``failed``); ``message`` is the
    runner's words for the operator.
    """

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.message = message
        self.kind = kind


class UpdateNeeded(Exception):
    """Raised by ``verify``: the target differs, ``update`` must run."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


# WIT error cases, by the dataclass the bindings raise.
_ERROR_KINDS = {
    _types.Error_AccessDenied: "access-denied",
    _types.Error_NotFound: "not-found",
    _types.Error_Invalid: "invalid",
    _types.Error_Io: "io",
    _types.Error_CommandFailed: "command-failed",
    _types.Error_WrongPhase: "wrong-phase",
    _types.Error_Unsatisfied: "unsatisfied",
    _types.Error_NotImplemented: "not-implemented",
    _types.Error_Failed: "failed",
}
_ERROR_CASES = {kind: case for case, kind in _ERROR_KINDS.items()}


def _call(function, *args):
    """Calls an import, turning its WIT error into :class:`Error`."""
    try:
        return function(*args)
    except Err as e:
        raise Error(e.value.value, _ERROR_KINDS.get(type(e.value), "failed")) from None


def _to_wit_error(error):
    """The WIT error for an exception a component raised."""
    if isinstance(error, Error):
        return _ERROR_CASES.get(error.kind, _types.Error_Failed)(error.message)
    return _types.Error_Failed(f"{type(error).__name__}: {error}")


# --- attributes and kinds ---------------------------------------------------

_REQUIRED = object()
_TYPES = {
    str: _types.AttributeType.STRING,
    int: _types.AttributeType.INTEGER,
    float: _types.AttributeType.FLOAT,
    bool: _types.AttributeType.BOOLEAN,
    list: _types.AttributeType.LIST,
    dict: _types.AttributeType.TABLE,
    "mode": _types.AttributeType.MODE,
    "any": _types.AttributeType.ANY,
}


class Attribute:
    """A typed attribute of a kind, as batou's ``Attribute``.

    ``type`` is ``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``,
    ``"mode"`` (permission bits; the component receives an integer) or
    ``"any"``. Without ``default`` the attribute is required;
    ``default=None`` makes it optional. The runner checks values against
    the type before the component sees them.
    """

    def __init__(self, type=str, default=_REQUIRED, doc=""):
        if type not in _TYPES:
            raise TypeError(f"Attribute type {type!r} is not one of {list(_TYPES)}")
        self.type = type
        self.default = default
        self.doc = doc
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def spec(self):
        default = None if self.default is _REQUIRED else json.dumps(self.default)
        return _types.AttributeSpec(name=self.name, type=_TYPES[self.type], default=default, doc=self.doc)


class Component:
    """Base class of a kind of component; subclass it once per kind.

    The lifecycle is batou's: ``configure`` declares sub-components
    (:meth:`add`), provides and requires; ``verify`` checks the target
    (read-only) and raises :class:`UpdateNeeded` when ``update`` must run;
    ``update`` changes the target.
    """

    kind = None
    _kinds = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("kind") or cls.__name__.lower()
        cls.kind = name
        Component._kinds[name] = cls

    @classmethod
    def _attributes(cls):
        seen = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Attribute):
                    seen[value.name] = value
        return list(seen.values())

    @classmethod
    def _spec(cls):
        doc = (cls.__doc__ or cls.kind).strip().splitlines()[0]
        return _types.KindSpec(name=cls.kind, doc=doc, attributes=[a.spec() for a in cls._attributes()])

    # componentize-py calls `describe` on the app module's `Component`,
    # which is this class: it lists every kind the module defines.
    def describe(self):
        return [cls._spec() for cls in Component._kinds.values()]

    # The lifecycle; subclasses override what they need.
    def configure(self):
        pass

    def verify(self):
        pass

    def update(self):
        pass

    # The model.
    def add(self, kind, name, **attributes):
        """Adds a sub-component of ``kind`` (any kind the runner knows, in
        any language) named ``name``, deployed before this one."""
        _call(_model.add, kind, name, json.dumps(attributes))

    def provide(self, key, value):
        """Offers ``value`` (anything JSON can hold) under ``key``."""
        _call(_model.provide, key, json.dumps(value))

    def require(self, key, host=False, strict=True, reverse=False):
        """The values provided under ``key`` (on this host only when
        ``host``). Strict: with none yet, configure runs again later."""
        return json.loads(_call(_model.require, key, host, strict, reverse))

    def require_one(self, key, host=False, strict=True, reverse=False):
        """The one value provided under ``key``."""
        values = self.require(key, host, strict, reverse)
        if len(values) != 1:
            raise Error(f"`{key}` has {len(values)} values, one was expected", "invalid")
        return values[0]

    @property
    def host(self):
        """This host: ``name``, ``fqdn`` and ``data`` (the environment's table)."""
        return _Host(_model.host_name(), _model.host_fqdn(), json.loads(_model.host_data()))

    @property
    def environment(self):
        """The environment's name."""
        return _model.environment_name()

    @property
    def workdir(self):
        """The root's working directory on the target."""
        return _model.workdir()

    @property
    def changed(self):
        """Whether a sub-component changed in this deploy (in ``verify``)."""
        return _model.changed()

    def expand(self, source, **context):
        """Renders a Jinja2 template with ``host``, ``environment`` and the
        keyword arguments as its variables."""
        return render(source, **context)


class _Host:
    def __init__(self, name, fqdn, data):
        self.name, self.fqdn, self.data = name, fqdn, data


def render(source, **context):
    """Renders a Jinja2 template (strict undefined) with the runner: the
    keyword arguments are its variables, beside ``host`` and
    ``environment``."""
    return _call(_template.render, source, json.dumps(context))


# --- files --------------------------------------------------------------------

class _Files:
    """The target's files, as the phase and the grants allow; relative
    paths are relative to the root's workdir."""

    def stat(self, path):
        return _call(_files.stat, path)

    def exists(self, path):
        return self.stat(path) is not None

    def read(self, path):
        return _call(_files.read, path)

    def read_text(self, path, missing=None):
        """The file as text; ``missing`` if it does not exist (when given)."""
        if missing is not None and not self.exists(path):
            return missing
        return self.read(path).decode()

    def digest(self, path):
        """sha256 in hex, or None for a missing file."""
        return _call(_files.digest, path)

    def write(self, path, data, mode=None):
        """Writes atomically; ``mode`` applies to a new file."""
        if isinstance(data, str):
            data = data.encode()
        _call(_files.write, path, data, mode)

    def mkdir(self, path, parents=True):
        _call(_files.mkdir, path, parents)

    def remove(self, path, recursive=False):
        _call(_files.remove, path, recursive)

    def symlink(self, target, link):
        _call(_files.symlink, target, link)

    def read_link(self, path):
        return _call(_files.read_link, path)

    def set_mode(self, path, mode):
        _call(_files.set_mode, path, mode)

    def set_owner(self, path, owner=None, group=None):
        _call(_files.set_owner, path, owner, group)

    def list(self, path):
        return _call(_files.list, path)

    def glob(self, pattern):
        return _call(_files.glob, pattern)

    def resolve(self, path):
        """The absolute path on the target that `path` names (verify and update)."""
        return _call(_files.resolve, path)


files = _Files()


class _Assets:
    """Files shipped beside the component (its folder)."""

    def read(self, name):
        return _call(_assets.read, name)

    def read_text(self, name):
        return self.read(name).decode()

    def list(self, name=""):
        """The asset files beneath the folder `name`, relative to it, sorted."""
        return _call(_assets.list, name)


assets = _Assets()


class _Log:
    """Messages shown with the component's path."""

    def debug(self, message):
        _log.log(_log.Level.DEBUG, str(message))

    def info(self, message):
        _log.log(_log.Level.INFO, str(message))

    def warn(self, message):
        _log.log(_log.Level.WARN, str(message))

    def error(self, message):
        _log.log(_log.Level.ERROR, str(message))

    def diff(self, path, old, new):
        _log.diff(path, old, new)


log = _Log()


# --- commands -----------------------------------------------------------------

class Output:
    """What a command produced."""

    def __init__(self, status, stdout, stderr):
        self.status, self.stdout, self.stderr = status, stdout, stderr

    @property
    def ok(self):
        return self.status == 0

    @property
    def text(self):
        return self.stdout.decode(errors="replace")


def run(program, *args, env=None, cwd=None, stdin=None, timeout=None, host=None):
    """Runs a granted program (no shell) here, or on ``host`` through the
    runner's SSH connection; a non-zero status is returned, not raised."""
    if isinstance(stdin, str):
        stdin = stdin.encode()
    cmd = _types.Command(
        program=program,
        args=[str(a) for a in args],
        env=sorted((env or {}).items()),
        cwd=cwd,
        stdin=stdin,
        timeout_ms=None if timeout is None else int(timeout * 1000),
    )
    out = _call(_ssh.run, host, cmd) if host else _call(_process.run, cmd)
    return Output(out.status, out.stdout, out.stderr)


def check(program, *args, **options):
    """As :func:`run`, but a non-zero status raises ``command-failed``."""
    out = run(program, *args, **options)
    if not out.ok:
        words = " ".join([program, *map(str, args)])
        tail = out.stderr.decode(errors="replace").strip()[-2000:]
        raise Error(f"`{words}` exited with status {out.status}" + (f":\n{tail}" if tail else ""), "command-failed")
    return out


# --- ensure helpers (for verify) ----------------------------------------------

def ensure(condition, reason):
    """Raises :class:`UpdateNeeded` with ``reason`` unless ``condition``."""
    if not condition:
        raise UpdateNeeded(reason)


def ensure_file(path):
    stat = files.stat(path)
    ensure(stat is not None and stat.kind == _types.FileKind.FILE, f"{path} is not a file")


def ensure_directory(path):
    stat = files.stat(path)
    ensure(stat is not None and stat.kind == _types.FileKind.DIRECTORY, f"{path} is not a directory")


def ensure_content(path, wanted):
    """Asks for an update when ``path`` does not hold ``wanted``, and
    reports the difference as a diff."""
    if isinstance(wanted, str):
        wanted = wanted.encode()
    digest = files.digest(path)
    if digest is None:
        log.diff(path, b"", wanted)
        raise UpdateNeeded("file is missing")
    if digest != hashlib.sha256(wanted).hexdigest():
        log.diff(path, files.read(path), wanted)
        raise UpdateNeeded("content changed")


def ensure_mode(path, mode):
    """Asks for an update when ``path`` does not have the permission bits
    ``mode`` (a symlink has none)."""
    wanted = mode & 0o7777
    stat = files.stat(path)
    if stat is None:
        raise UpdateNeeded(f"{path} is missing")
    if stat.kind == _types.FileKind.SYMLINK:
        return
    if stat.mode & 0o7777 != wanted:
        raise UpdateNeeded(f"mode is {stat.mode & 0o7777:04o}, wanted {wanted:04o}")


def ensure_symlink(path, target):
    stat = files.stat(path)
    ensure(
        stat is not None and stat.kind == _types.FileKind.SYMLINK and files.read_link(path) == target,
        f"{path} does not point to {target}",
    )
