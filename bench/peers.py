"""The reference job run by a peer engine, for bench/src/bin/reference.rs.

Usage: python bench/peers.py duckdb|polars max|stats FILE

Reads FILE's `station;temperature` lines (no header, ';' between the fields, no quoting), groups
them by station and prints one line per station to stdout: `station,max` for `max`,
`station,count,min,mean,max` for `stats`, as the native contender does. Each engine runs with its
default threading (a thread per core). bench/peers.sh installs both engines.
"""

import csv
import sys

AGGREGATES = {"max": ["max"], "stats": ["count", "min", "mean", "max"]}


def duckdb_rows(job, path):
    """The job as one DuckDB query over `read_csv`."""
    import duckdb

    sql = {"count": "count(*)", "min": "min(temperature)", "mean": "avg(temperature)", "max": "max(temperature)"}
    select = ", ".join(sql[name] for name in AGGREGATES[job])
    return duckdb.sql(
        f"SELECT station, {select} "
        "FROM read_csv($path, delim = ';', header = false, quote = '', escape = '', "
        "columns = {'station': 'VARCHAR', 'temperature': 'DOUBLE'}) "
        "GROUP BY station",
        params={"path": path},
    ).fetchall()


def polars_rows(job, path):
    """The job as a lazy Polars query: `scan_csv`, `group_by`, `agg`, `collect`."""
    import polars as pl

    temperature = pl.col("temperature")
    expression = {
        "count": pl.len().alias("count"),
        "min": temperature.min().alias("min"),
        "mean": temperature.mean().alias("mean"),
        "max": temperature.max().alias("max"),
    }
    frame = (
        pl.scan_csv(
            path,
            separator=";",
            has_header=False,
            quote_char=None,
            schema={"station": pl.String, "temperature": pl.Float64},
        )
        .group_by("station")
        .agg([expression[name] for name in AGGREGATES[job]])
        .collect()
    )
    return frame.iter_rows()


ENGINES = {"duckdb": duckdb_rows, "polars": polars_rows}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ENGINES or sys.argv[2] not in AGGREGATES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(ENGINES)} {'|'.join(AGGREGATES)} FILE")
    engine, job, path = sys.argv[1:]
    csv.writer(sys.stdout, lineterminator="\n").writerows(ENGINES[engine](job, path))


if __name__ == "__main__":
    main()
