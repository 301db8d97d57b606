//! The stations table of a weather data set: `station;country` lines, one per station its
//! readings are drawn from, so that the readings can be joined with it.

use std::ops::Range;

use flicker_storage::{Compression, Location, ObjectWriter};

use crate::weather::check_station_count;
use crate::{GenError, Station, Written};

/// The stations of one block: in a compressed table, one gzip member or zstd frame.
const BLOCK_STATIONS: usize = 1 << 16;

/// Appends the lines `station;country\n` of the stations numbered `range` (see [`Station::nth`]),
/// in order.
pub fn write_station_lines(range: Range<usize>, out: &mut Vec<u8>) {
    for index in range {
        let Station { name, country, .. } = Station::nth(index);
        out.extend_from_slice(name.as_bytes());
        out.push(b';');
        out.extend_from_slice(country.as_bytes());
        out.push(b'\n');
    }
}

/// Writes the stations table of a data set of `station_count` stations
/// ([`Weather::new`](crate::Weather::new)'s count) as the single object `to`, replacing any object
/// there: every station the readings may name, once, with its city's country, in
/// [`stations`](crate::stations)' order. The bytes depend on `station_count` only. An object
/// named `*.gz` or `*.zst` is compressed, as [`write()`](crate::write) compresses readings.
pub async fn write_stations(station_count: usize, to: &Location) -> Result<Written, GenError> {
    check_station_count(station_count)?;
    let compression = Compression::of(to.path());
    // An upload that fails is aborted when its writer is dropped.
    let mut upload = ObjectWriter::new(to.clone());
    let mut written = Written { rows: station_count as u64, bytes: 0, stored_bytes: 0 };
    for start in (0..station_count).step_by(BLOCK_STATIONS) {
        let mut lines = Vec::new();
        write_station_lines(start..(start + BLOCK_STATIONS).min(station_count), &mut lines);
        written.bytes += lines.len() as u64;
        let stored = match compression {
            Some(format) => format.compress(&lines),
            None => lines,
        };
        written.stored_bytes += stored.len() as u64;
        upload.write(stored.into()).await?;
    }
    upload.finish().await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use std::collections::HashSet;

    use super::*;
    use crate::{CITIES, MAX_STATIONS, Weather, stations};

    /// The object at `to`.
    async fn read(to: &Location) -> Vec<u8> {
        to.store().get(to.path()).await.unwrap().bytes().await.unwrap().to_vec()
    }

    /// Writes the table of `count` stations to memory and reads it back as `(station, country)`.
    async fn table(count: usize) -> Vec<(String, String)> {
        let to = Location::parse(&format!("memory://gen-stations/{count}.txt"), "/".as_ref()).unwrap();
        let written = write_stations(count, &to).await.unwrap();
        let bytes = read(&to).await;
        assert_eq!(
            written,
            Written { rows: count as u64, bytes: bytes.len() as u64, stored_bytes: written.bytes }
        );
        let text = String::from_utf8(bytes).unwrap();
        text.lines()
            .map(|line| {
                let (station, country) = line.split_once(';').expect("a `;` in every line");
                assert!(!country.contains(';'), "{line:?}");
                (station.to_owned(), country.to_owned())
            })
            .collect()
    }

    #[tokio::test]
    async fn every_station_once_with_its_city_s_country() {
        // Past the cities (numbered stations) and past one block.
        let count = BLOCK_STATIONS + 2 * CITIES.len() + 3;
        let table = table(count).await;
        let expected: Vec<(String, String)> =
            stations(count).into_iter().map(|station| (station.name, station.country.to_owned())).collect();
        assert!(table == expected, "the table is not `stations({count})` with their countries");
        assert_eq!(table[0], ("Zürich".to_owned(), "Switzerland".to_owned()));
        let second_zurich = &table[CITIES.len()];
        assert_eq!(second_zurich, &("Zürich-2".to_owned(), "Switzerland".to_owned()));
        assert_eq!(table, self::table(count).await, "the same count gives the same table");
    }

    #[tokio::test]
    async fn every_station_of_the_readings_is_in_the_table() {
        for count in [1, 413, CITIES.len() + 100] {
            let names: HashSet<String> = table(count).await.into_iter().map(|(station, _)| station).collect();
            assert_eq!(names.len(), count, "no station twice");
            let mut lines = Vec::new();
            Weather::new(count, 7).unwrap().lines(0).write(50_000, &mut lines);
            let readings = String::from_utf8(lines).unwrap();
            let seen: HashSet<&str> = readings.lines().map(|line| line.split_once(';').unwrap().0).collect();
            assert_eq!(seen.len(), count, "{count} stations: every station appears in 50,000 readings");
            assert!(seen.iter().all(|station| names.contains(*station)), "{count} stations");
        }
    }

    #[tokio::test]
    async fn a_compressed_table_holds_the_plain_lines() {
        let count = BLOCK_STATIONS + 10;
        let [mut first, mut second] = [Vec::new(), Vec::new()];
        write_station_lines(0..BLOCK_STATIONS, &mut first);
        write_station_lines(BLOCK_STATIONS..count, &mut second);
        let to = Location::parse("memory://gen-stations/stations.txt.gz", "/".as_ref()).unwrap();
        let written = write_stations(count, &to).await.unwrap();
        let want = [Compression::Gzip.compress(&first), Compression::Gzip.compress(&second)].concat();
        assert!(read(&to).await == want, "not one gzip member per block");
        assert_eq!(written.bytes, (first.len() + second.len()) as u64);
        assert_eq!(written.stored_bytes, want.len() as u64);
    }

    #[tokio::test]
    async fn station_counts_out_of_range_are_errors() {
        let to = Location::parse("memory://gen-stations/refused.txt", "/".as_ref()).unwrap();
        assert!(matches!(write_stations(0, &to).await, Err(GenError::NoStations)));
        assert!(matches!(
            write_stations(MAX_STATIONS + 1, &to).await,
            Err(GenError::TooManyStations { max: MAX_STATIONS, .. })
        ));
        assert!(to.store().get(to.path()).await.is_err(), "nothing is written");
    }
}
