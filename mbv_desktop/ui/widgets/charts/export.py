"""Chart data out to files: ISO 8601 UTC times and CSV writing.

A chart describes its data as a header and the rows in chunks, each row made only as the CSV
writer asks for it. Exports stream them to the file from a worker thread, so a 100,000-row
export never holds its rows at once: 100,000 small lists alive together make the garbage
collector's passes (which stop every thread) long enough to stall the GUI. Chunks also keep
each numpy or csv call short, since one call over all the rows would hold the GIL, and so the
GUI thread, for tens of milliseconds.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

CHUNK = 5_000  # rows

Rows = Iterable[Sequence[object]]  # rows of a chunk, possibly made one at a time
Table = tuple[list[str], list[list[object]]]
Chunked = tuple[list[str], Iterator[Rows]]  # the header, the rows a chunk at a time
TableSource = Callable[[], Chunked]


def chunks_of(count: int) -> Iterator[slice]:
    """Slices covering ``range(count)`` a chunk at a time."""
    for start in range(0, count, CHUNK):
        yield slice(start, min(start + CHUNK, count))


def iso_utc(seconds: npt.NDArray[np.float64]) -> list[str]:
    """Epoch seconds as ISO 8601 UTC strings: "2024-06-03T14:00:00Z", with microseconds only
    for times that have fractions of a second."""
    micros = np.round(seconds * 1e6).astype("int64")
    stamps = micros.astype("datetime64[us]")
    text: list[str] = np.datetime_as_string(stamps, unit="s", timezone="UTC").tolist()
    fractional = np.flatnonzero(micros % 1_000_000)
    if fractional.size:
        finer = np.datetime_as_string(stamps[fractional], unit="us", timezone="UTC").tolist()
        for i, stamp in zip(fractional.tolist(), finer, strict=True):
            text[i] = stamp
    return text


def values_or_none(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Floats as Python floats, NaN (nothing measured) as None, which CSV writes as empty."""
    listed: list[float | None] = values.tolist()
    if np.isnan(values).any():
        listed = [None if v != v else v for v in listed]
    return listed


def collect(table: Chunked) -> Table:
    header, chunks = table
    return header, [list(row) for chunk in chunks for row in chunk]


def write_csv(path: Path, header: list[str], chunks: Iterable[Rows]) -> None:
    """Writes the table as UTF-8 CSV with a byte-order mark (so spreadsheet apps read names
    with accents and emoji right). Written to a side file first: a failed export never leaves a
    half-written file under the chosen name. Raises OSError."""
    part = path.with_name(path.name + ".part")
    try:
        with part.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for rows in chunks:
                writer.writerows(rows)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
