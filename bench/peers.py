"""The benchmarked jobs run by a peer engine, for bench/src/bin/reference.rs and join.rs.

Usage: python bench/peers.py duckdb|polars JOB READINGS [STATIONS]

READINGS holds `station;temperature` lines, STATIONS `station;country` lines (no header, ';'
between the fields, no quoting). Prints one line per key to stdout, as the native contender of
`reference` does:

- `max`: `station,max`; `stats`: `station,count,min,mean,max` (the reference job);
- `country` (READINGS STATIONS): the readings joined with the stations on `station` (inner),
  the highest temperature per country: `country,max`;
- `self-join`: the readings semi-joined with the readings above 20 °C on `station` and
  `temperature`, counted per station: `station,count` (the threshold is also in join.rs's
  manifest).

Each engine runs with its default threading (a thread per core). bench/peers.sh installs both.
"""

import csv
import sys

AGGREGATES = {"max": ["max"], "stats": ["count", "min", "mean", "max"]}
# The jobs, with the files each reads.
JOBS = {"max": ["READINGS"], "stats": ["READINGS"], "country": ["READINGS", "STATIONS"], "self-join": ["READINGS"]}
# The self-join's right side: readings above this many degrees.
WARM = 20

DUCKDB_READINGS = (
    "read_csv($readings, delim = ';', header = false, quote = '', escape = '', "
    "columns = {'station': 'VARCHAR', 'temperature': 'DOUBLE'})"
)
DUCKDB_STATIONS = (
    "read_csv($stations, delim = ';', header = false, quote = '', escape = '', "
    "columns = {'station': 'VARCHAR', 'country': 'VARCHAR'})"
)


def duckdb_rows(job, readings, stations=None):
    """The job as one DuckDB query over `read_csv`."""
    import duckdb

    if job == "country":
        return duckdb.sql(
            f"SELECT s.country, max(r.temperature) FROM {DUCKDB_READINGS} r "
            f"JOIN {DUCKDB_STATIONS} s ON r.station = s.station GROUP BY s.country",
            params={"readings": readings, "stations": stations},
        ).fetchall()
    if job == "self-join":
        return duckdb.sql(
            f"SELECT r.station, count(*) FROM {DUCKDB_READINGS} r "
            f"SEMI JOIN (SELECT station, temperature FROM {DUCKDB_READINGS} WHERE temperature > {WARM}) w "
            "ON r.station = w.station AND r.temperature = w.temperature GROUP BY r.station",
            params={"readings": readings},
        ).fetchall()
    sql = {"count": "count(*)", "min": "min(temperature)", "mean": "avg(temperature)", "max": "max(temperature)"}
    select = ", ".join(sql[name] for name in AGGREGATES[job])
    return duckdb.sql(
        f"SELECT station, {select} FROM {DUCKDB_READINGS} GROUP BY station",
        params={"readings": readings},
    ).fetchall()


def polars_rows(job, readings, stations=None):
    """The job as a lazy Polars query: `scan_csv`, `join`, `group_by`, `agg`, `collect`."""
    import polars as pl

    def scan(path, fields):
        return pl.scan_csv(
            path,
            separator=";",
            has_header=False,
            quote_char=None,
            schema={name: kind for name, kind in fields},
        )

    frame = scan(readings, [("station", pl.String), ("temperature", pl.Float64)])
    temperature = pl.col("temperature")
    if job == "country":
        table = scan(stations, [("station", pl.String), ("country", pl.String)])
        query = frame.join(table, on="station", how="inner").group_by("country").agg(temperature.max())
    elif job == "self-join":
        warm = frame.filter(temperature > WARM)
        query = frame.join(warm, on=["station", "temperature"], how="semi").group_by("station").agg(pl.len())
    else:
        expression = {
            "count": pl.len().alias("count"),
            "min": temperature.min().alias("min"),
            "mean": temperature.mean().alias("mean"),
            "max": temperature.max().alias("max"),
        }
        query = frame.group_by("station").agg([expression[name] for name in AGGREGATES[job]])
    return query.collect().iter_rows()


ENGINES = {"duckdb": duckdb_rows, "polars": polars_rows}


def main():
    args = sys.argv[1:]
    engine, job, files = (args[0], args[1], args[2:]) if len(args) >= 2 else (None, None, [])
    if engine not in ENGINES or job not in JOBS or len(files) != len(JOBS[job]):
        usage = " | ".join(f"{name} {' '.join(inputs)}" for name, inputs in JOBS.items())
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(ENGINES)} ({usage})")
    csv.writer(sys.stdout, lineterminator="\n").writerows(ENGINES[engine](job, *files))


if __name__ == "__main__":
    main()
