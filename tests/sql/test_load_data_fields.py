"""LOAD DATA's field reader: the searching fast path answers as the character walk does."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from p2pdb.sql.load_data import _field, _field_walk

separators = st.sampled_from([",", "\t", ";", ",,", "\r\n", "\n", "", "ab", "\\"])
line_ends = st.sampled_from(["\n", "\r\n", "\r", ";", "\n\n", ",", "", "\\n"])
encloses = st.sampled_from(["", '"', "'"])
escapes = st.sampled_from(["", "\\", "N", "a"])


@settings(max_examples=3000, deadline=None)
@given(data=st.data(), term=separators, line_end=line_ends, enc=encloses, esc=escapes)
@example(data=None, term="\n", line_end="\r\n", enc="", esc="")  # a line end across the terminator
@example(data=None, term="\\", line_end="\n", enc="", esc="\\")  # a terminator that is the escape
def test_the_fast_path_reads_every_field_as_the_walk(
    data: st.DataObject | None, term: str, line_end: str, enc: str, esc: str
) -> None:
    if data is None:
        cases = [(text, 0) for text in (f"a{line_end}b", f"a{term}b", f"a{esc}{term}b{line_end}c")]
    else:
        # texts made of the format's own pieces, so that they meet each other at every position
        pieces = st.sampled_from(["a", "N", "\r", "\n", "é", term, line_end, enc, esc, esc + "N"])
        text = "".join(data.draw(st.lists(pieces, max_size=20)))
        cases = [(text, data.draw(st.integers(0, len(text))))]
    for text, pos in cases:
        assert _field(text, pos, term, line_end, enc, esc) == _field_walk(text, pos, term, line_end, enc, esc)
