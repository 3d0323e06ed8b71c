"""Record classes for results, options and events: the part of :mod:`dataclasses`
that netdiag uses, without its start-up cost.

Why not :mod:`dataclasses` itself: importing it imports :mod:`inspect` (and with
it ``ast``, ``dis``, ``tokenize``), which costs a command about 0.7x of the bare
interpreter's start on this kind of machine, before it has done anything.
Every command builds some records, so every command paid it. This module
generates the same methods the same way (the source of ``__init__`` and the
others is written and compiled once per class), and nothing else:

- ``@dataclass``, ``@dataclass(frozen=True)``, ``@dataclass(frozen=True, slots=True)``
  with ``eq`` (the default) and ``repr``; ``__post_init__`` is called when defined.
- ``field(default=..., default_factory=..., init=..., repr=..., compare=...)``.
- Fields of record base classes come first, as in :mod:`dataclasses`.
- ``fields()``, ``replace()``, ``astuple()`` and ``is_record()``.

Assigning to a frozen record raises :class:`FrozenInstanceError`, an
``AttributeError``. Type checkers see the decorator through PEP 681
(``dataclass_transform``), so fields and constructors are checked as for
dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")

__all__ = ["dataclass", "field", "fields", "replace", "astuple", "is_record", "Field",
           "FrozenInstanceError"]  # fmt: skip


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """One field of a record: its name, default (or factory) and flags."""

    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare")

    def __init__(self, default: Any, default_factory: Any, init: bool, repr: bool,  # noqa: A002
                 compare: bool) -> None:  # fmt: skip
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    init: bool = True,
    repr: bool = True,  # noqa: A002 (the dataclasses keyword)
    compare: bool = True,
) -> Any:
    """A field with a default, a default factory, or flags (as ``dataclasses.field``)."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, compare)


_FIELDS = "__record_fields__"


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and (text.startswith("ClassVar") or "ClassVar[" in text)


def _collect(cls: type) -> dict[str, Field]:
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in getattr(base, _FIELDS, {}).values():
            found[f.name] = f
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(value, MISSING, True, True, True)
        f.name = name
        found[name] = f
        if isinstance(value, Field):  # the class attribute becomes the plain default
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    return found


def _methods(cls: type, all_fields: list[Field], frozen: bool, eq: bool,
             want_repr: bool) -> dict[str, Any]:  # fmt: skip
    env: dict[str, Any] = {"_MISSING": MISSING, "_object": object,
                           "_Frozen": FrozenInstanceError}  # fmt: skip
    params, body = [], []
    seen_default = False
    for f in all_fields:
        if f.init:
            if f.default is not MISSING:
                env[f"_d_{f.name}"] = f.default
                params.append(f"{f.name}=_d_{f.name}")
                seen_default = True
            elif f.default_factory is not MISSING:
                env[f"_f_{f.name}"] = f.default_factory
                params.append(f"{f.name}=_MISSING")
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            else:
                params.append(f.name)
        if f.default_factory is not MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            value = (f"_f_{f.name}() if {f.name} is _MISSING else {f.name}" if f.init
                     else f"_f_{f.name}()")  # fmt: skip
        elif f.init:
            value = f.name
        elif f.default is not MISSING:
            env[f"_d_{f.name}"] = f.default
            value = f"_d_{f.name}"
        else:
            continue
        if frozen:
            body.append(f"  _object.__setattr__(self, {f.name!r}, {value})")
        else:
            body.append(f"  self.{f.name} = {value}")
    if "__post_init__" in {n for k in cls.__mro__ for n in k.__dict__}:
        body.append("  self.__post_init__()")
    src = [f"def __init__(self, {', '.join(params)}):" if params else "def __init__(self):"]
    src += body or ["  pass"]
    shown = [f.name for f in all_fields if f.repr]
    compared = [f.name for f in all_fields if f.compare]
    key = "(" + "".join(f"self.{n}," for n in compared) + ")"
    other = "(" + "".join(f"other.{n}," for n in compared) + ")"
    if want_repr:
        parts = ", ".join(f"{n}={{self.{n}!r}}" for n in shown)
        src += ["def __repr__(self):",
                f"  return f'{{type(self).__qualname__}}({parts})'"]  # fmt: skip
    if eq:
        src += ["def __eq__(self, other):",
                "  if other.__class__ is self.__class__:",
                f"    return {key} == {other}",
                "  return NotImplemented"]  # fmt: skip
        if frozen:
            src += ["def __hash__(self):", f"  return hash({key})"]
    if frozen:
        names = tuple(f.name for f in all_fields)
        env["_names"] = frozenset(names)
        env["_cls"] = cls
        src += ["def __setattr__(self, name, value):",
                "  if type(self) is _cls or name in _names:",
                "    raise _Frozen(f'cannot assign to field {name!r}')",
                "  super(_cls, self).__setattr__(name, value)",
                "def __delattr__(self, name):",
                "  if type(self) is _cls or name in _names:",
                "    raise _Frozen(f'cannot delete field {name!r}')",
                "  super(_cls, self).__delattr__(name)"]  # fmt: skip
    local: dict[str, Any] = {}
    exec(compile("\n".join(src), f"<record {cls.__qualname__}>", "exec"), env, local)  # noqa: S102
    return local


def _process(cls: type, frozen: bool, slots: bool, eq: bool, want_repr: bool) -> type:
    found = _collect(cls)
    all_fields = list(found.values())
    if slots:
        own = tuple(n for n in cls.__dict__.get("__annotations__", {}) if n in found
                    and not any(n in getattr(b, _FIELDS, {}) for b in cls.__mro__[1:]))  # fmt: skip
        namespace = {k: v for k, v in cls.__dict__.items()
                     if k not in own and k not in ("__dict__", "__weakref__")}  # fmt: skip
        namespace["__slots__"] = own
        namespace["__qualname__"] = cls.__qualname__
        cls = type(cls)(cls.__name__, cls.__bases__, namespace)
    methods = _methods(cls, all_fields, frozen, eq, want_repr)
    for name, fn in methods.items():
        if name in ("__repr__", "__eq__", "__hash__") and name in cls.__dict__:
            continue  # the class wrote its own
        fn.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, fn)
    if eq and not frozen and "__hash__" not in cls.__dict__:
        cls.__hash__ = None  # type: ignore[assignment]  # unhashable, as dataclasses makes it
    setattr(cls, _FIELDS, found)
    setattr(cls, "__match_args__", tuple(f.name for f in all_fields if f.init))  # noqa: B010
    return cls


def _dataclass(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False,
               eq: bool = True, repr: bool = True) -> Any:  # noqa: A002  # fmt: skip
    def wrap(c: type) -> type:
        return _process(c, frozen, slots, eq, repr)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:

    @dataclass_transform(field_specifiers=(field,))
    def dataclass(cls: Any = None, /, *, frozen: bool = False, slots: bool = False,
                  eq: bool = True, repr: bool = True) -> Any:  # noqa: A002  # fmt: skip
        ...
else:
    dataclass = _dataclass


def is_record(obj: object) -> bool:
    """Is ``obj`` a record class, or an instance of one?"""
    return hasattr(obj if isinstance(obj, type) else type(obj), _FIELDS)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a record (class or instance), in order."""
    try:
        return tuple(getattr(obj, _FIELDS).values())
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def astuple(obj: Any) -> tuple[Any, ...]:
    """A record's field values, in order (not recursive)."""
    return tuple(getattr(obj, f.name) for f in fields(obj))


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of the record ``obj`` with ``changes`` (init fields only)."""
    for f in fields(obj):
        if f.init and f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
        elif not f.init and f.name in changes:
            raise ValueError(f"field {f.name} is declared with init=False")
    return type(obj)(**changes)
