"""plain_table draws what tabulate's plain format draws (tabulate is the oracle)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from netdiag.render.table import plain_table

_cell = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.text(alphabet="ab .:%-|?[]*", max_size=12),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: f"{f:.1f}"),
)


@settings(max_examples=300, deadline=None)
@given(
    ncols=st.integers(1, 6),
    data=st.data(),
)
def test_plain_table_equals_tabulates_plain_format(ncols, data):
    rows = data.draw(st.lists(st.lists(_cell, min_size=ncols, max_size=ncols), max_size=6))
    headers = data.draw(
        st.one_of(
            st.just([]),
            st.lists(st.text(alphabet="ABC: %", max_size=8), min_size=ncols, max_size=ncols),
        )
    )
    colalign = data.draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(["left", "right", "center"]), min_size=ncols, max_size=ncols),
        )
    )
    if not rows and not headers:
        return
    want = tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True,
                    colalign=colalign)  # fmt: skip
    assert plain_table(rows, headers, colalign) == want


def test_an_mtr_shaped_table_matches_tabulate():
    heads = ["", "HOST: src", "Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev", "Jttr"]
    rows = [
        ["1.", "|-- 198.18.1.2", "0.0%", 20, "0.1", "0.1", "0.0", "0.2", "0.0", "0.0"],
        ["", "|-- ???", "100.0%", 20, "", "", "", "", "", ""],
        ["10.", "|-- 2001:db8:8::2", "5.0%", 20, "12.5", "11.0", "9.9", "13.0", "0.9", "1.1"],
    ]
    align = ("right", "left") + ("right",) * 8
    assert plain_table(rows, heads, align) == tabulate(
        rows, headers=heads, tablefmt="plain", disable_numparse=True, colalign=align
    )
