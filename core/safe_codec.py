"""A non-executable serialisation for remembered results (core.precomputed), instead of pickle.

Reading a pickle runs whatever code the bytes name, so a pickle read from the database is code
from anyone who can write a row (and in demo mode the signing key is public). This format can
only ever produce data: JSON for plain values (dict, list, tuple, str, int, float, bool, None,
dates and times, numpy scalars), Arrow IPC streams for DataFrames and Series, and a fixed
allow-list of Hearth's own result dataclasses, rebuilt field by field. Anything else raises
TypeError when stored (the result is then simply not remembered), and a payload that does not
parse raises ValueError when read.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import io
import json
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

MAGIC = b"HEARTH-JSON-ARROW-1\n"

# The only classes a payload may name: dataclasses of plain values and DataFrames.
DATACLASSES = frozenset({"core.clv.ClvResult", "core.loyalty.LedgerSummary"})


def dumps(value: Any) -> bytes:
    """``value`` as bytes; TypeError for a type this format does not carry."""
    return MAGIC + json.dumps(_encode(value), separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(payload: bytes) -> Any:
    """The value :func:`dumps` wrote; ValueError for anything else (an old pickle included).

    Raises ValueError for bytes it did not write.
    """
    if not payload.startswith(MAGIC):
        raise ValueError("not a Hearth result payload")
    return _decode(json.loads(payload[len(MAGIC):].decode("utf-8")))


def _frame_bytes(df: pd.DataFrame) -> dict[str, Any]:
    """Typed columns as one Arrow IPC stream (with the index); object columns (dates with
    NaT, mixed values) cell by cell as JSON; column names as JSON, so integer or mixed names
    come back as they were. Checked by reading it back: what does not round-trip exactly is
    refused (TypeError) rather than stored changed."""
    objects = [i for i, dtype in enumerate(df.dtypes) if pd.api.types.is_object_dtype(dtype)]
    typed = df.iloc[:, [i for i in range(df.shape[1]) if i not in objects]]
    typed = typed.set_axis([f"c{i}" for i in range(typed.shape[1])], axis=1)
    try:
        table = pa.Table.from_pandas(typed, preserve_index=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise TypeError(f"a DataFrame that Arrow cannot carry: {exc}") from None
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    encoded = {"$frame": base64.b64encode(sink.getvalue()).decode("ascii"),
               "columns": [_encode(c) for c in df.columns],
               "columns_dtype": str(df.columns.dtype), "columns_name": _encode(df.columns.name),
               "objects": {str(i): [_encode(x) for x in df.iloc[:, i].tolist()] for i in objects}}
    try:
        pd.testing.assert_frame_equal(_frame(encoded), df, check_exact=True)
    except AssertionError as exc:
        raise TypeError(f"a DataFrame that does not round-trip exactly: {str(exc)[:200]}") from None
    return encoded


def _frame(v: dict[str, Any]) -> pd.DataFrame:
    with pa.ipc.open_stream(io.BytesIO(base64.b64decode(v["$frame"]))) as reader:
        typed = reader.read_all().to_pandas()
    columns = [_hashable(_decode(c)) for c in v["columns"]]
    objects = {int(i): cells for i, cells in v["objects"].items()}
    parts, t = {}, 0
    for i in range(len(columns)):
        if i in objects:
            parts[i] = pd.Series([_decode(x) for x in objects[i]], index=typed.index, dtype=object)
        else:
            parts[i] = typed.iloc[:, t]
            t += 1
    out = pd.DataFrame(parts, index=typed.index) if parts else pd.DataFrame(index=typed.index)
    out.columns = pd.Index(columns, dtype=v.get("columns_dtype", "object"), name=_decode(v.get("columns_name")))
    return out


def _encode(v: Any) -> Any:  # noqa: PLR0911 - one branch per type
    if v is None or isinstance(v, bool | str):
        return v
    if v is pd.NaT:
        return {"$nat": 1}
    if v is pd.NA:
        return {"$na": 1}
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else {"$float": repr(f)}
    if isinstance(v, pd.Timestamp | datetime):
        return {"$datetime": pd.Timestamp(v).isoformat()}
    if isinstance(v, date):
        return {"$date": v.isoformat()}
    if isinstance(v, pd.Timedelta | timedelta):
        return {"$timedelta": pd.Timedelta(v).value}
    if isinstance(v, pd.DataFrame):
        return _frame_bytes(v)
    if isinstance(v, pd.Series):
        return {"$series": _frame_bytes(v.to_frame(name="__value__")), "name": _encode(v.name)}
    if isinstance(v, dict):
        return {"$dict": [[_encode(k), _encode(x)] for k, x in v.items()]}
    if isinstance(v, list):
        return [_encode(x) for x in v]
    if isinstance(v, tuple):
        return {"$tuple": [_encode(x) for x in v]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        name = f"{type(v).__module__}.{type(v).__qualname__}"
        if name in DATACLASSES:
            return {"$dataclass": name,
                    "fields": {f.name: _encode(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    raise TypeError(f"cannot store a {type(v).__module__}.{type(v).__qualname__} as a remembered result")


def _decode(v: Any) -> Any:  # noqa: PLR0911 - one branch per tag
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "$nat" in v:
        return pd.NaT
    if "$na" in v:
        return pd.NA
    if "$float" in v:
        return float(v["$float"])
    if "$datetime" in v:
        return pd.Timestamp(v["$datetime"])
    if "$date" in v:
        return date.fromisoformat(v["$date"])
    if "$timedelta" in v:
        return pd.Timedelta(int(v["$timedelta"]))
    if "$frame" in v:
        return _frame(v)
    if "$series" in v:
        return _frame(v["$series"]).iloc[:, 0].rename(_decode(v["name"]))
    if "$dict" in v:
        return {_hashable(_decode(k)): _decode(x) for k, x in v["$dict"]}
    if "$tuple" in v:
        return tuple(_decode(x) for x in v["$tuple"])
    if "$dataclass" in v:
        name = v["$dataclass"]
        if name not in DATACLASSES:
            raise ValueError(f"a payload names {name!r}, which is not a result type")
        module, _, cls_name = name.rpartition(".")
        cls = getattr(importlib.import_module(module), cls_name)
        return cls(**{k: _decode(x) for k, x in v["fields"].items()})
    raise ValueError("unknown tag in a result payload")


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k
