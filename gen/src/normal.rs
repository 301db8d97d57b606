//! Normally distributed deviations with integer arithmetic only, so they are the same on every
//! machine.
//!
//! A deviation is drawn by inverting the normal distribution's CDF at a uniform random point
//! (inverse transform sampling), with the inverse CDF known at fixed points: [`KNOTS`] holds
//! the quantiles of the standard normal distribution at `p = 0.5 + k/1024` for `k` in `0..512`,
//! in units of `σ/65536`, rounded, as Python computes them:
//!
//! ```text
//! from statistics import NormalDist
//! [round(NormalDist().inv_cdf(0.5 + k / 1024) * 65536) for k in range(512)] + [4 * 65536]
//! ```
//!
//! and 4σ as the last knot. Between two knots the quantile is interpolated linearly. The result
//! is the normal distribution up to the interpolation (well under 0.1% of σ in the bulk),
//! except that the top 1/1024 of each tail is spread evenly between 3.1σ and 4σ. Only the
//! table is computed with floating point, once, and it is written here as integers; the unit
//! tests check it against an independent computation.

/// Random bits [`deviation`] takes.
const FRACTION_BITS: u32 = 22;

/// The knots of the upper half of the inverse CDF: `KNOTS[k]` is the quantile at
/// `p = 0.5 + k/1024`, in units of `σ/65536`; the last one is 4σ (see the module docs).
const KNOTS: [i64; 513] = [
    0, 160, 321, 481, 642, 802, 963, 1123, 1283, 1444, 1604, 1765, 1925, 2086, 2246, 2407, 2567, 2728, 2889,
    3049, 3210, 3370, 3531, 3692, 3852, 4013, 4174, 4335, 4495, 4656, 4817, 4978, 5139, 5300, 5461, 5622,
    5783, 5944, 6105, 6266, 6427, 6588, 6750, 6911, 7072, 7234, 7395, 7557, 7718, 7880, 8041, 8203, 8365,
    8526, 8688, 8850, 9012, 9174, 9336, 9498, 9660, 9823, 9985, 10147, 10310, 10472, 10634, 10797, 10960,
    11122, 11285, 11448, 11611, 11774, 11937, 12100, 12263, 12427, 12590, 12754, 12917, 13081, 13244, 13408,
    13572, 13736, 13900, 14064, 14228, 14393, 14557, 14721, 14886, 15051, 15215, 15380, 15545, 15710, 15875,
    16041, 16206, 16372, 16537, 16703, 16869, 17034, 17200, 17367, 17533, 17699, 17865, 18032, 18199, 18366,
    18532, 18699, 18867, 19034, 19201, 19369, 19536, 19704, 19872, 20040, 20208, 20377, 20545, 20714, 20882,
    21051, 21220, 21389, 21559, 21728, 21898, 22067, 22237, 22407, 22577, 22748, 22918, 23089, 23259, 23430,
    23601, 23773, 23944, 24116, 24287, 24459, 24631, 24804, 24976, 25149, 25321, 25494, 25668, 25841, 26014,
    26188, 26362, 26536, 26710, 26885, 27059, 27234, 27409, 27584, 27759, 27935, 28111, 28287, 28463, 28639,
    28816, 28993, 29170, 29347, 29525, 29702, 29880, 30058, 30237, 30415, 30594, 30773, 30952, 31132, 31311,
    31491, 31671, 31852, 32032, 32213, 32394, 32576, 32758, 32939, 33122, 33304, 33487, 33670, 33853, 34036,
    34220, 34404, 34588, 34773, 34958, 35143, 35328, 35514, 35700, 35886, 36072, 36259, 36446, 36634, 36821,
    37009, 37198, 37386, 37575, 37764, 37954, 38144, 38334, 38525, 38715, 38907, 39098, 39290, 39482, 39675,
    39868, 40061, 40254, 40448, 40642, 40837, 41032, 41227, 41423, 41619, 41816, 42012, 42210, 42407, 42605,
    42804, 43002, 43202, 43401, 43601, 43801, 44002, 44203, 44405, 44607, 44809, 45012, 45216, 45419, 45624,
    45828, 46033, 46239, 46445, 46651, 46858, 47066, 47273, 47482, 47691, 47900, 48110, 48320, 48531, 48742,
    48954, 49166, 49379, 49592, 49806, 50021, 50235, 50451, 50667, 50884, 51101, 51318, 51537, 51756, 51975,
    52195, 52416, 52637, 52859, 53081, 53304, 53528, 53752, 53977, 54202, 54428, 54655, 54883, 55111, 55340,
    55569, 55799, 56030, 56262, 56494, 56727, 56961, 57195, 57430, 57666, 57903, 58140, 58378, 58617, 58857,
    59097, 59339, 59581, 59824, 60067, 60312, 60557, 60804, 61051, 61299, 61548, 61798, 62048, 62300, 62552,
    62806, 63060, 63316, 63572, 63829, 64087, 64347, 64607, 64868, 65131, 65394, 65659, 65924, 66191, 66458,
    66727, 66997, 67268, 67541, 67814, 68089, 68364, 68641, 68920, 69199, 69480, 69762, 70045, 70330, 70616,
    70903, 71192, 71482, 71774, 72067, 72361, 72657, 72954, 73253, 73554, 73855, 74159, 74464, 74771, 75079,
    75389, 75701, 76015, 76330, 76647, 76966, 77286, 77609, 77933, 78259, 78588, 78918, 79250, 79584, 79921,
    80259, 80600, 80943, 81288, 81635, 81985, 82337, 82691, 83048, 83408, 83769, 84134, 84501, 84871, 85243,
    85618, 85996, 86377, 86761, 87148, 87538, 87931, 88327, 88727, 89129, 89536, 89945, 90358, 90775, 91196,
    91620, 92048, 92481, 92917, 93357, 93802, 94251, 94704, 95162, 95625, 96093, 96565, 97043, 97526, 98014,
    98507, 99007, 99512, 100023, 100540, 101064, 101594, 102131, 102675, 103225, 103784, 104350, 104924,
    105506, 106096, 106695, 107304, 107921, 108549, 109186, 109834, 110493, 111164, 111846, 112540, 113248,
    113968, 114703, 115453, 116218, 116999, 117797, 118613, 119448, 120303, 121178, 122076, 122997, 123944,
    124916, 125918, 126949, 128013, 129112, 130248, 131425, 132646, 133914, 135235, 136614, 138055, 139567,
    141156, 142834, 144610, 146500, 148519, 150691, 153042, 155608, 158437, 161597, 165184, 169346, 174330,
    180588, 189113, 202983, 262144,
];

/// The deviation from the mean, in tenths of a degree, of a normal distribution whose standard
/// deviation is `sigma_tenths` tenths, drawn from 32 random bits: the top bit is the sign, the
/// next 9 the knot interval, the other 22 the place in it.
pub(crate) fn deviation(bits: u32, sigma_tenths: i64) -> i32 {
    let knot = ((bits >> FRACTION_BITS) & 511) as usize;
    let fraction = i64::from(bits & ((1 << FRACTION_BITS) - 1));
    let (low, high) = (KNOTS[knot], KNOTS[knot + 1]);
    // In units of σ / 2^(16 + FRACTION_BITS): at most 4 · 2^38 = 2^40, times σ < 2^23.
    let scaled = ((low << FRACTION_BITS) + (high - low) * fraction) * sigma_tenths;
    let shift = 16 + FRACTION_BITS;
    // Rounded to the nearest tenth; the sign is applied last, so both tails are mirror images.
    let tenths = ((scaled + (1 << (shift - 1))) >> shift) as i32;
    if bits >> 31 == 1 { -tenths } else { tenths }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard normal CDF, by its series `1/2 + φ(x) (x + x³/3 + x⁵/(3·5) + …)`, whose
    /// terms are all positive: accurate to ~1e-15 up to 4σ.
    fn cdf(x: f64) -> f64 {
        let density = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (mut term, mut sum, mut n) = (x, x, 1.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 2.0;
            term *= x * x / n;
            sum += term;
        }
        0.5 + density * sum
    }

    /// The standard normal quantile at `p`, by bisection of [`cdf`].
    fn quantile(p: f64) -> f64 {
        let (mut low, mut high) = (-5.0, 5.0);
        for _ in 0..100 {
            let middle = (low + high) / 2.0;
            if cdf(middle) < p { low = middle } else { high = middle }
        }
        (low + high) / 2.0
    }

    #[test]
    fn the_knots_are_the_normal_quantiles() {
        for (k, &knot) in KNOTS[..512].iter().enumerate() {
            let expected = quantile(0.5 + k as f64 / 1024.0) * 65536.0;
            assert!((knot as f64 - expected).abs() <= 0.51, "knot {k}: {knot}, expected {expected}");
        }
        assert_eq!(KNOTS[512], 4 << 16);
        assert!(KNOTS.windows(2).all(|pair| pair[0] < pair[1]), "the knots increase");
    }

    #[test]
    fn deviations_cover_the_range_symmetrically() {
        let sigma = 100;
        assert_eq!(deviation(0, sigma), 0);
        assert_eq!(deviation(1 << 31, sigma), 0);
        // The largest draw reaches (almost) 4σ; its mirror image is its negation.
        let top = deviation(u32::MAX >> 1, sigma);
        assert!((399..=400).contains(&top), "{top}");
        assert_eq!(deviation(u32::MAX, sigma), -top);
        // The median of the upper half is the 75% quantile, 0.674σ.
        assert_eq!(deviation(1 << 30, sigma), 67);
    }

    #[test]
    fn deviations_have_the_moments_of_a_normal_distribution() {
        // Every 2^12-th value of the 32 bits: an even sweep of the distribution.
        let draws: Vec<f64> = (0..1u64 << 20).map(|i| f64::from(deviation((i << 12) as u32, 1000))).collect();
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
        let kurtosis = draws.iter().map(|d| (d - mean).powi(4)).sum::<f64>() / n / variance.powi(2);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((variance.sqrt() - 1000.0).abs() < 5.0, "standard deviation {}", variance.sqrt());
        assert!((kurtosis - 3.0).abs() < 0.05, "kurtosis {kurtosis}");
        let within_one_sigma = draws.iter().filter(|d| d.abs() < 1000.0).count() as f64 / n;
        assert!((within_one_sigma - 0.6827).abs() < 0.002, "{within_one_sigma} within 1σ");
    }
}
