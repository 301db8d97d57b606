//! Test data for flicker, the same bytes from the same arguments on every machine, fast enough
//! to fill a bucket: `flicker gen weather` and `flicker gen stations` are this crate on the
//! command line.
//!
//! The data are weather readings as in the One Billion Row Challenge, lines
//! `station;temperature` such as `São Paulo;23.4`: the stations real cities (multi-byte UTF-8
//! among them) with their mean temperatures ([`stations`]), each reading normally distributed
//! around its station's mean, with one decimal, within ±99.9 ([`Weather`]).
//!
//! Everything random comes from integer arithmetic ([`Rng`], a table of normal quantiles), so
//! the bytes depend on the arguments only, never on the machine, the number of threads or the
//! store. [`write()`] streams a data set into any object store [`Location`], generating blocks
//! of lines on several threads, compressing them if the object's name ends in `.gz` or `.zst`.
//!
//! Each city also has a country, so readings can be joined with a second table:
//! [`write_stations`] writes the `station;country` lines of every station a data set draws from
//! (`Zürich;Switzerland`, …, `Zürich-2;Switzerland` past the cities), as `flicker gen stations`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use flicker_gen::{Weather, write};
//! use flicker_storage::Location;
//!
//! // The first 400 stations, seed 7: the same lines on every machine.
//! let weather = Arc::new(Weather::new(400, 7)?);
//! // A few lines in memory ...
//! let mut lines = Vec::new();
//! weather.lines(0).write(10, &mut lines);
//! // ... or a billion into a bucket, gzip-compressed.
//! let to = Location::parse("s3://bucket/weather/readings.txt.gz", std::path::Path::new("/"))?;
//! let written = write(&weather, 1_000_000_000, &to).await?;
//! println!("{} lines, {} bytes stored", written.rows, written.stored_bytes);
//! # Ok(())
//! # }
//! ```
//!
//! [`Location`]: flicker_storage::Location

mod decimal;
mod error;
mod normal;
mod rng;
mod station_table;
mod stations;
mod weather;
mod write;

pub use error::GenError;
pub use rng::Rng;
pub use station_table::{write_station_lines, write_stations};
pub use stations::{CITIES, Station, stations};
pub use weather::{Lines, MAX_STATIONS, STD_DEV_TENTHS, Weather};
pub use write::{BLOCK_ROWS, Written, write};
