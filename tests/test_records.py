"""netdiag.records against the standard library's dataclasses: the same class
bodies decorated by each behave alike (construction, defaults, factories,
init=False, __post_init__, inheritance, equality, hashing, repr, frozenness,
slots, replace, fields, astuple)."""

from __future__ import annotations

import dataclasses as std

import pytest

from netdiag import records as ours


def make(mod):
    """The same four classes, built by ``mod`` (std dataclasses or netdiag.records)."""

    @mod.dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 0
        tags: tuple[str, ...] = mod.field(default_factory=tuple)

    @mod.dataclass(frozen=True)
    class Named(Point):
        name: str = "p"
        note: str = mod.field(default="", compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "name", self.name.upper())

    @mod.dataclass
    class Counter:
        start: int
        seen: list[int] = mod.field(default_factory=list)
        total: int = mod.field(default=0, init=False)
        marks: dict[str, int] = mod.field(default_factory=dict, init=False)

    @mod.dataclass(frozen=True)
    class Plain:
        """Has a docstring of its own."""

        a: bytes

    return Point, Named, Counter, Plain


STD = make(std)
OURS = make(ours)


@pytest.mark.parametrize(
    "build",
    [
        lambda P, N, C, X: P(1),
        lambda P, N, C, X: P(1, 2, ("a",)),
        lambda P, N, C, X: P(x=3, tags=("b", "c")),
        lambda P, N, C, X: N(1, 2, (), "q", "n"),
        lambda P, N, C, X: N(4, name="z"),
        lambda P, N, C, X: C(5),
        lambda P, N, C, X: C(5, [1, 2]),
        lambda P, N, C, X: X(b"\x00"),
    ],
)
def test_construction_repr_and_fields_match_dataclasses(build):
    theirs, mine = build(*STD), build(*OURS)
    assert repr(mine) == repr(theirs)
    assert ours.astuple(mine) == tuple(getattr(theirs, f.name) for f in std.fields(theirs))
    assert [f.name for f in ours.fields(mine)] == [f.name for f in std.fields(theirs)]
    assert type(mine).__match_args__ == type(theirs).__match_args__


def test_equality_and_hashing_follow_the_compare_flags():
    for P, N, C, _X in (STD, OURS):
        assert P(1, 2) == P(1, 2) and P(1, 2) != P(1, 3)
        assert hash(P(1, 2, ("a",))) == hash(P(1, 2, ("a",)))
        assert N(1, note="x") == N(1, note="y")  # compare=False
        assert P(1) != N(1)  # other class: NotImplemented, then unequal
        assert C(1) == C(1) and C.__hash__ is None  # mutable and eq: unhashable


def test_frozen_records_refuse_assignment_and_deletion():
    for mod, (P, N, _C, _X) in ((std, STD), (ours, OURS)):
        p = P(1)
        with pytest.raises(mod.FrozenInstanceError):
            p.x = 2  # type: ignore[misc]
        with pytest.raises(mod.FrozenInstanceError):
            del N(1).name
        assert isinstance(mod.FrozenInstanceError("x"), AttributeError)


def test_slots_post_init_defaults_and_factories():
    for P, N, C, _X in (STD, OURS):
        assert P.__slots__ == ("x", "y", "tags") and not hasattr(P(1), "__dict__")
        assert N(1, name="ab").name == "AB"  # __post_init__ ran
        a, b = C(1), C(1)
        a.seen.append(3)
        a.total += 2
        assert b.seen == [] and b.total == 0 and a.marks == {} and a.marks is not b.marks
        with pytest.raises(TypeError):
            C(1, [], 5)  # total is init=False


def test_replace_keeps_the_other_fields_and_runs_post_init():
    for mod, (_P, N, C, _X) in ((std, STD), (ours, OURS)):
        n = N(1, 2, ("t",), "a", "note")
        r = mod.replace(n, y=9)
        assert (r.x, r.y, r.tags, r.name, r.note) == (1, 9, ("t",), "A", "note")
        with pytest.raises(ValueError):
            mod.replace(C(1), total=3)


def test_a_field_without_default_after_one_with_is_refused():
    for mod in (std, ours):
        with pytest.raises(TypeError):

            @mod.dataclass
            class Bad:
                a: int = 0
                b: int  # type: ignore[misc]


def test_docstrings_stay_and_nothing_heavy_is_imported():
    import subprocess
    import sys

    assert OURS[3].__doc__ == "Has a docstring of its own."
    probe = ("import sys, netdiag.records; "
             "print(sorted({'dataclasses', 'inspect', 'typing'} & set(sys.modules)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
