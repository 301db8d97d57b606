//! Weather readings, `station;temperature` lines, drawn from stations and a seed.

use crate::decimal::{MAX_TENTHS, text_of};
use crate::normal::deviation;
use crate::{CITIES, GenError, Rng, Station, stations};

/// The standard deviation of every station's temperatures: 10 °C, as in the One Billion Row
/// Challenge.
pub const STD_DEV_TENTHS: i32 = 100;

/// The most stations a data set may have: 2^28 (268,435,456). A line's station is picked by 32
/// random bits (the other 32 draw its temperature), which past 2^32 stations could not reach
/// them all and short of it favour some more and more: with at most 2^28, every station is
/// picked by 16 or 17 of the 2^32 values, so their chances are within 1/16 of each other
/// (within 1/171 at 25 million stations). The count costs no memory: [`Weather`] stores the
/// cities only and names their numbered variants as it draws them.
pub const MAX_STATIONS: usize = 1 << 28;

/// A data set of weather readings: lines `station;temperature\n`, the station drawn uniformly
/// from [`stations`], the temperature from a normal distribution around the station's mean
/// (standard deviation [`STD_DEV_TENTHS`]), rounded to a tenth and clamped to ±99.9, written
/// with one decimal (`-3.7`, `0.0`, `21.4`).
///
/// The data is cut into numbered streams, each drawn from its own [`Rng::stream`] of the seed,
/// so streams can be generated apart (on several threads) and still give the same bytes. Only
/// integer arithmetic is involved (see [`Rng`] and the normal table of this crate), so the same
/// stations and seed give the same bytes on every machine.
#[derive(Debug, Clone)]
pub struct Weather {
    /// What the lines of the first stations are drawn from, by station: the named ones, of
    /// which the rest are numbered variants.
    draws: Vec<Draw>,
    /// How many stations the lines are drawn from: at least `draws.len()`, at most
    /// [`MAX_STATIONS`].
    station_count: u64,
    /// The bytes a line takes on average (for reserving room).
    average_line_len: usize,
    seed: u64,
}

/// Checks that a data set may have `station_count` stations: at least one, at most
/// [`MAX_STATIONS`].
pub(crate) fn check_station_count(station_count: usize) -> Result<(), GenError> {
    if station_count == 0 {
        return Err(GenError::NoStations);
    }
    if station_count > MAX_STATIONS {
        return Err(GenError::TooManyStations { count: station_count, max: MAX_STATIONS });
    }
    Ok(())
}

/// One station as [`Lines::write`] uses it.
#[derive(Debug, Clone)]
struct Draw {
    /// What its lines start with, `name;`.
    line_start: Box<[u8]>,
    /// Its mean temperature, in tenths.
    mean_tenths: i32,
}

impl Weather {
    /// Readings of the first `station_count` [`stations`], drawn with `seed`.
    pub fn new(station_count: usize, seed: u64) -> Result<Weather, GenError> {
        check_station_count(station_count)?;
        Ok(Weather::of(stations(station_count.min(CITIES.len())), station_count, seed))
    }

    /// Readings of `station_count` stations (at most [`MAX_STATIONS`]), drawn with `seed`: the
    /// `named` ones (at least one), then numbered variants of them as [`stations`] numbers the
    /// cities (`name-2` for each in turn, then `name-3`, …, with its mean).
    fn of(named: Vec<Station>, station_count: usize, seed: u64) -> Weather {
        let draws: Vec<Draw> = named
            .into_iter()
            .map(|station| {
                let mut line_start = station.name.into_bytes();
                line_start.push(b';');
                Draw { line_start: line_start.into(), mean_tenths: station.mean_tenths }
            })
            .collect();
        let line_starts: usize = draws.iter().map(|draw| draw.line_start.len()).sum();
        // Numbered names add `-` and the number, at most the last station's digits.
        let last_number = (station_count - 1) / draws.len() + 1;
        let numbers = if last_number == 1 { 0 } else { 1 + (last_number.ilog10() as usize + 1) };
        // A temperature and its newline take 4 to 6 bytes, most often 5.
        let average_line_len = line_starts.div_ceil(draws.len()) + numbers + 5;
        Weather { draws, station_count: station_count as u64, average_line_len, seed }
    }

    /// Appends the line of station `index`, past the named ones: `name-number;` (as
    /// [`stations`] names it) and the reading `deviation` from its mean. Not inlined, so that
    /// [`Lines::write`] keeps its registers for the named stations, the common case.
    #[inline(never)]
    fn write_numbered_line(&self, index: usize, deviation: i32, out: &mut Vec<u8>) {
        let named = self.draws.len();
        let draw = &self.draws[index % named];
        // Its name: `name;` without the `;`.
        out.extend_from_slice(&draw.line_start[..draw.line_start.len() - 1]);
        // `-number;`, written backwards from the `;`.
        let mut suffix = [b';'; 22];
        let mut start = suffix.len() - 1;
        let mut rest = index / named + 1;
        while rest > 0 {
            start -= 1;
            suffix[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        start -= 1;
        suffix[start] = b'-';
        out.extend_from_slice(&suffix[start..]);
        out.extend_from_slice(reading(draw.mean_tenths, deviation));
    }

    /// The endless stream of lines number `stream`.
    pub fn lines(&self, stream: u64) -> Lines<'_> {
        Lines { weather: self, rng: Rng::stream(self.seed, stream) }
    }
}

/// One stream of lines of a [`Weather`] data set; see [`Weather::lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    weather: &'a Weather,
    rng: Rng,
}

impl Lines<'_> {
    /// Appends the stream's next `rows` lines to `out`.
    pub fn write(&mut self, rows: usize, out: &mut Vec<u8>) {
        let weather = self.weather;
        let count = weather.station_count;
        out.reserve(rows * weather.average_line_len);
        for _ in 0..rows {
            // One draw per line: the high half picks the station (a multiply-shift, count < 2^32),
            // the low half the deviation.
            let bits = self.rng.next_u64();
            let station = (((bits >> 32) * count) >> 32) as usize;
            let deviation = deviation(bits as u32, i64::from(STD_DEV_TENTHS));
            match weather.draws.get(station) {
                Some(draw) => {
                    let reading = reading(draw.mean_tenths, deviation);
                    out.extend_from_slice(&draw.line_start);
                    out.extend_from_slice(reading);
                }
                None => weather.write_numbered_line(station, deviation, out),
            }
        }
    }
}

/// The text of a reading `deviation` tenths from `mean_tenths`, clamped to ±99.9, with its
/// newline.
fn reading(mean_tenths: i32, deviation: i32) -> &'static [u8] {
    text_of((mean_tenths + deviation).clamp(-MAX_TENTHS, MAX_TENTHS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    /// `rows` lines of stream 0.
    fn text(weather: &Weather, rows: usize) -> String {
        let mut out = Vec::new();
        weather.lines(0).write(rows, &mut out);
        String::from_utf8(out).expect("the lines are UTF-8")
    }

    /// The lines of `text` as station and tenths, checking each has one decimal.
    fn readings(text: &str) -> Vec<(&str, i32)> {
        text.lines()
            .map(|line| {
                let (station, temperature) = line.split_once(';').expect("a `;` in every line");
                let (whole, tenth) = temperature.split_once('.').expect("one decimal");
                assert!(tenth.len() == 1 && tenth.bytes().all(|b| b.is_ascii_digit()), "{line:?}");
                assert!(whole.trim_start_matches('-').len() <= 2, "{line:?}");
                let tenths: i32 = format!("{whole}{tenth}").parse().expect("a number");
                assert_ne!(temperature, "-0.0");
                (station, tenths)
            })
            .collect()
    }

    #[test]
    fn the_same_stations_and_seed_give_the_same_bytes() {
        let a = Weather::new(400, 7).unwrap();
        let b = Weather::new(400, 7).unwrap();
        assert_eq!(text(&a, 10_000), text(&b, 10_000));
        assert_ne!(text(&a, 10_000), text(&Weather::new(400, 8).unwrap(), 10_000));
        // Writing in pieces continues the stream.
        let mut pieces = Vec::new();
        let mut lines = a.lines(0);
        lines.write(3, &mut pieces);
        lines.write(9_997, &mut pieces);
        assert_eq!(pieces, text(&a, 10_000).into_bytes());
    }

    #[test]
    fn a_fixed_seed_gives_fixed_lines() {
        // Pins the output across versions and machines (checked against an independent
        // implementation of the same arithmetic): change it only on purpose.
        let weather = Weather::new(400, 7).unwrap();
        let first: Vec<String> = text(&weather, 4).lines().map(str::to_owned).collect();
        assert_eq!(first, ["Ouagadougou;19.5", "Antalya;17.5", "Phuket;28.7", "Tbilisi;19.6"]);
    }

    #[test]
    fn lines_are_stations_and_one_decimal_temperatures() {
        let weather = Weather::new(40, 1).unwrap();
        let text = text(&weather, 50_000);
        let names: HashSet<String> = stations(40).into_iter().map(|station| station.name).collect();
        let readings = readings(&text);
        assert_eq!(readings.len(), 50_000);
        for (station, tenths) in &readings {
            assert!(names.contains(*station), "{station:?}");
            assert!((-999..=999).contains(tenths));
        }
        let seen: HashSet<&str> = readings.iter().map(|(station, _)| *station).collect();
        assert_eq!(seen.len(), 40, "every station appears");
    }

    #[test]
    fn temperatures_are_centred_on_each_station_mean() {
        let weather = Weather::new(20, 3).unwrap();
        let text = text(&weather, 200_000);
        let mut by_station: HashMap<&str, Vec<f64>> = HashMap::new();
        for (station, tenths) in readings(&text) {
            by_station.entry(station).or_default().push(f64::from(tenths));
        }
        for station in stations(20) {
            let values = &by_station[station.name.as_str()];
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let std_dev = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            // The standard error of the mean is 100 / sqrt(10000) = 1 tenth: allow 5.
            assert!((mean - f64::from(station.mean_tenths)).abs() < 5.0, "{}: mean {mean}", station.name);
            assert!((std_dev - 100.0).abs() < 5.0, "{}: standard deviation {std_dev}", station.name);
        }
    }

    #[test]
    fn temperatures_are_clamped_to_99_9() {
        // No real city is within 4σ of the limits (Vostok's -55.2 °C is the coldest mean), so
        // these stations are made up: half their readings are beyond ±99.9.
        let extreme =
            |name: &str, mean_tenths| Station { name: name.to_owned(), mean_tenths, country: "Nowhere" };
        let weather = Weather::of(vec![extreme("Hot", 990), extreme("Cold", -990)], 2, 5);
        let text = text(&weather, 20_000);
        let readings = readings(&text);
        for limit in [-999, 999] {
            let at_limit = readings.iter().filter(|(_, tenths)| *tenths == limit).count();
            assert!((4_000..6_000).contains(&at_limit), "{at_limit} readings at {limit}");
        }
        assert!(readings.iter().all(|(_, tenths)| (-999..=999).contains(tenths)));
    }

    #[test]
    fn station_counts_out_of_range_are_errors() {
        assert!(matches!(Weather::new(0, 1), Err(GenError::NoStations)));
        assert!(matches!(
            Weather::new(MAX_STATIONS + 1, 1),
            Err(GenError::TooManyStations { count, max: MAX_STATIONS }) if count == MAX_STATIONS + 1
        ));
        let most = Weather::new(MAX_STATIONS, 1).unwrap();
        assert_eq!(most.station_count, MAX_STATIONS as u64);
        assert_eq!(most.draws.len(), CITIES.len(), "only the cities are stored");
    }

    #[test]
    fn numbered_stations_named_as_drawn_give_the_bytes_of_one_draw_per_station() {
        for station_count in [1, 2, 413, 542, 543, 544, 545, 1085, 1086, 1087, 5000, 123_457, 1_000_000] {
            // As the generator was built before it named numbered stations as it drew them: one
            // draw per station of `stations`, none numbered on the fly.
            let every_station = stations(station_count);
            for seed in [0, 7, u64::MAX] {
                let weather = Weather::new(station_count, seed).unwrap();
                let reference = Weather::of(every_station.clone(), station_count, seed);
                assert_eq!(reference.draws.len(), station_count);
                for stream in [0, 5] {
                    let [got, want] = [&weather, &reference].map(|weather| {
                        let mut out = Vec::new();
                        weather.lines(stream).write(20_000, &mut out);
                        out
                    });
                    assert!(got == want, "{station_count} stations, seed {seed}, stream {stream}");
                }
            }
        }
    }

    #[test]
    fn the_last_station_is_named_by_its_number() {
        let weather = Weather::new(MAX_STATIONS, 1).unwrap();
        let mut out = Vec::new();
        weather.write_numbered_line(MAX_STATIONS - 1, 0, &mut out);
        // 2^28 - 1 = 494,356 × 543 + 147: city 147 in its 494,357th round, at its mean.
        let (city, mean_tenths, _) = CITIES[147];
        let mean = f64::from(mean_tenths) / 10.0;
        assert_eq!(String::from_utf8(out).unwrap(), format!("{city}-494357;{mean:.1}\n"));
    }
}
