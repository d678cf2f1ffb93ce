"""Run ids: Sacred's are ints, a FileStorage folder may be named anything ("00012" is a string id)."""

from __future__ import annotations

from typing import Any

from omnidash.core.types import RunId


def canonical_int(text: str) -> int | None:
    """The int a text spells canonically ("12", "-3", "0"); None otherwise ("00012", "+1", " 1", "1_0", "x").

    Only such texts are integer run ids: the folder `00012` is the string id "00012", not run 12.
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0") or text == "-0" or len(digits) > 18:
        return None
    return int(text)


def parse_run_id(text: str) -> RunId:
    """The run id a text names (a URL segment, a query parameter): an int when it spells one canonically
    (Sacred's ids), else the text as is ("00012" stays a string)."""
    number = canonical_int(text)
    return text if number is None else number


def plain_run_id(value: Any) -> Any:
    """A run id as Python holds it: numpy integers (from a DataFrame index) become ints, others stay."""
    if not isinstance(value, int | str) and hasattr(value, "item") and isinstance(value.item(), int):
        return int(value.item())
    return value


def id_candidates(run_id: RunId) -> list[RunId]:
    """The id as given plus its int/str twin (`5` and `"5"`), exact form first ("00012" has no twin)."""
    out: list[RunId] = [run_id]
    if isinstance(run_id, str):
        number = canonical_int(run_id)
        if number is not None:
            out.append(number)
    elif isinstance(run_id, int) and not isinstance(run_id, bool):
        out.append(str(run_id))
    return out
