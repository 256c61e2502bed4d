//! Fixed-point numbers with the chain's rounding rules (YUMA_SPEC §3).
//!
//! Bittensor's chain computes the epoch in `substrate_fixed` types. These small types reproduce
//! the rules that decide every stored integer:
//!
//! - [`I32F32`]: signed 64-bit bits, value `bits / 2³²`. Add and subtract saturate; multiply
//!   floors a 128-bit product; divide truncates toward zero; division by zero (or an overflowing
//!   quotient) gives 0 in [`I32F32::safe_div`].
//! - [`I64F64`]: signed 128-bit bits, value `bits / 2⁶⁴`, used only to normalise stake before it
//!   is truncated to [`I32F32`].
//! - [`emission_amount`]: the chain's I96F32 product of a share and an integer emission,
//!   `⌊share_bits · E / 2³²⌋`.
//! - [`exp_safe`]: the library's 31-term exponential series, clamped to `[-20, 20]`.

use core::fmt;

/// Number of fractional bits of [`I32F32`].
const FRAC32: u32 = 32;

/// Exact `⌊x / d⌋` for many u64 `x` and one divisor `d > 0`, with two multiplies instead of a
/// division (the epoch divides every entry of a row or column by the same sum).
#[derive(Clone, Copy, Debug)]
pub(crate) struct U64Divisor {
    d: u64,
    /// `⌊2⁶⁴ / d⌋`, or `2⁶⁴ − 1` for `d = 1`.
    m: u64,
}

impl U64Divisor {
    /// `None` for `d = 0`.
    #[inline]
    pub(crate) fn new(d: u64) -> Option<Self> {
        let m = (1_u128 << 64).checked_div(u128::from(d))?;
        Some(Self {
            d,
            // For d = 1, 2⁶⁴ − 1 keeps the estimate within one below the quotient, like the rest.
            m: u64::try_from(m).unwrap_or(u64::MAX),
        })
    }

    /// `⌊x / d⌋`.
    #[inline]
    pub(crate) fn div(self, x: u64) -> u64 {
        // m is ⌊2⁶⁴/d⌋ (2⁶⁴ − 1 for d = 1), so x·m/2⁶⁴ lies in (x/d − 1, x/d] and the estimate is
        // the quotient or one less.
        let q = u64::try_from((u128::from(x).wrapping_mul(u128::from(self.m))) >> 64).unwrap_or(0);
        let r = x.wrapping_sub(q.wrapping_mul(self.d));
        if r >= self.d { q.wrapping_add(1) } else { q }
    }

    /// `a.safe_div(divisor)` for the I32F32 whose bits are `d`, fast when `0 ≤ a < 1`.
    #[inline]
    pub(crate) fn div_fixed(self, a: I32F32) -> I32F32 {
        match u64::try_from(a.0) {
            Ok(bits) if bits >> FRAC32 == 0 => {
                let q = self.div(bits << FRAC32);
                I32F32(i64::try_from(q).unwrap_or(0))
            }
            _ => a.safe_div(I32F32(i64::try_from(self.d).unwrap_or(i64::MAX))),
        }
    }
}

/// Signed fixed-point number with 32 integer and 32 fractional bits (value `bits / 2³²`).
///
/// Comparison is on the bits, so it is exact. Conversions to floats exist only for output.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct I32F32(i64);

impl I32F32 {
    /// 0.
    pub const ZERO: Self = Self(0);
    /// 1.
    pub const ONE: Self = Self(1 << FRAC32);
    /// 0.5 (the only float literal the epoch uses; exact).
    pub const HALF: Self = Self(1 << (FRAC32 - 1));
    /// Largest value, just under 2³¹.
    pub const MAX: Self = Self(i64::MAX);
    /// Smallest value, -2³¹.
    pub const MIN: Self = Self(i64::MIN);
    /// 65535, the u16 ratio denominator.
    pub const U16_MAX: Self = Self::from_u16(u16::MAX);
    /// `exp(1)` as the chain's library returns it: its 23-bit constant `22802600 / 2²³`.
    pub const E: Self = Self(22_802_600 << (FRAC32 - 23));

    /// The number with these raw bits.
    pub const fn from_bits(bits: i64) -> Self {
        Self(bits)
    }

    /// The raw bits (`value · 2³²`).
    pub const fn to_bits(self) -> i64 {
        self.0
    }

    /// Exact conversion of a u16.
    pub const fn from_u16(v: u16) -> Self {
        Self((v as i64) << FRAC32)
    }

    /// Exact conversion of an i16.
    pub const fn from_i16(v: i16) -> Self {
        Self((v as i64) << FRAC32)
    }

    /// Integer to fixed, saturating at the type bounds (exact inside them).
    pub fn saturating_from_int(v: i64) -> Self {
        Self(saturate_i128_to_i64(i128::from(v).wrapping_shl(FRAC32)))
    }

    /// `a + b`, saturating.
    #[must_use]
    pub const fn saturating_add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }

    /// `a - b`, saturating.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// `-a`, saturating.
    #[must_use]
    pub const fn saturating_neg(self) -> Self {
        Self(self.0.saturating_neg())
    }

    /// `a · b` floored (arithmetic shift of the 128-bit product), or `None` on overflow.
    #[must_use]
    pub fn checked_mul(self, rhs: Self) -> Option<Self> {
        let product = i128::from(self.0).wrapping_mul(i128::from(rhs.0));
        i64::try_from(product >> FRAC32).ok().map(Self)
    }

    /// [`Self::saturating_mul`], with a fast path when both operands are in `[0, 1]` (the epoch's
    /// proportions): their 128-bit product shifted back fits in 33 bits, so it cannot saturate.
    #[inline]
    #[must_use]
    pub(crate) fn mul_fast(self, rhs: Self) -> Self {
        match (u64::try_from(self.0), u64::try_from(rhs.0)) {
            (Ok(a), Ok(b)) if a <= 1 << FRAC32 && b <= 1 << FRAC32 => {
                Self(i64::try_from(mul_unit(a, b)).unwrap_or(i64::MAX))
            }
            _ => self.saturating_mul(rhs),
        }
    }

    /// `a · b` floored, saturating at the type bounds.
    #[must_use]
    pub fn saturating_mul(self, rhs: Self) -> Self {
        let product = i128::from(self.0).wrapping_mul(i128::from(rhs.0));
        Self(saturate_i128_to_i64(product >> FRAC32))
    }

    /// `a / b` truncated toward zero, or `None` when `b = 0` or the quotient overflows.
    #[must_use]
    pub fn checked_div(self, rhs: Self) -> Option<Self> {
        if rhs.0 == 0 {
            return None;
        }
        // Fast paths for non-negative operands (all the epoch's divisions): a 128-bit division is
        // several times slower than a 64-bit one.
        if let (Ok(a), Ok(b)) = (u64::try_from(self.0), u64::try_from(rhs.0)) {
            if a >> FRAC32 == 0 {
                // Below 1.0 the shifted dividend fits a u64.
                let quotient = (a << FRAC32).checked_div(b)?;
                return i64::try_from(quotient).ok().map(Self);
            }
            if b & 0xFFFF_FFFF == 0 {
                // Integer divisor: ⌊(a·2³²)/(k·2³²)⌋ = ⌊a/k⌋.
                let quotient = a.checked_div(b >> FRAC32)?;
                return i64::try_from(quotient).ok().map(Self);
            }
        }
        let quotient = (i128::from(self.0) << FRAC32).checked_div(i128::from(rhs.0))?;
        i64::try_from(quotient).ok().map(Self)
    }

    /// The chain's safe division: `a / b` truncated toward zero, 0 when `b = 0` or on overflow.
    #[must_use]
    pub fn safe_div(self, rhs: Self) -> Self {
        self.checked_div(rhs).unwrap_or(Self::ZERO)
    }

    /// `a / b` truncated toward zero, saturating on overflow; 0 when `b = 0`.
    #[must_use]
    pub fn saturating_div(self, rhs: Self) -> Self {
        if rhs.0 == 0 {
            return Self::ZERO;
        }
        self.checked_div(rhs)
            .unwrap_or(if (self.0 < 0) == (rhs.0 < 0) {
                Self::MAX
            } else {
                Self::MIN
            })
    }

    /// Round to the nearest integer, ties away from zero (saturating).
    #[must_use]
    pub fn round(self) -> Self {
        let half = i128::from(Self::HALF.0);
        let bits = i128::from(self.0);
        let one = i128::from(Self::ONE.0);
        let rounded = if bits >= 0 {
            (bits.wrapping_add(half) >> FRAC32).wrapping_mul(one)
        } else {
            (bits.wrapping_neg().wrapping_add(half) >> FRAC32)
                .wrapping_mul(one)
                .wrapping_neg()
        };
        Self(saturate_i128_to_i64(rounded))
    }

    /// Floor to u16, saturating; negative values give 0.
    pub fn to_u16_saturating(self) -> u16 {
        u16::try_from(self.0.max(0) >> FRAC32).unwrap_or(u16::MAX)
    }

    /// Floor to u64, saturating; negative values give 0.
    pub fn to_u64_saturating(self) -> u64 {
        u64::try_from(self.0.max(0) >> FRAC32).unwrap_or(0)
    }

    /// The exact value as f64 (rounded to f64's 53-bit mantissa); for output only.
    pub fn to_f64(self) -> f64 {
        // i64 -> f64 rounds only beyond 2^53 bits, i.e. for |value| > 2^21.
        let bits = self.0 as f64;
        bits / 4_294_967_296.0
    }

    /// `u16 / 65535` as the chain forms a u16 ratio (kappa, bonds_penalty, alpha_low/high).
    pub fn from_u16_ratio(v: u16) -> Self {
        Self::from_u16(v).safe_div(Self::U16_MAX)
    }

    /// The chain's `fixed_proportion_to_u16`: `floor_u16(x) = min(65535, max(0, ⌊x · 65535⌋))`.
    pub fn to_u16_proportion(self) -> u16 {
        self.saturating_mul(Self::U16_MAX).to_u16_saturating()
    }
}

impl fmt::Debug for I32F32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_f64())
    }
}

impl fmt::Display for I32F32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_f64())
    }
}

/// Signed fixed-point number with 64 integer and 64 fractional bits (value `bits / 2⁶⁴`).
///
/// Only what stake normalisation needs: saturating add, truncating division, truncation to
/// [`I32F32`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct I64F64(i128);

impl I64F64 {
    /// 0.
    pub const ZERO: Self = Self(0);

    /// The number with these raw bits.
    pub const fn from_bits(bits: i128) -> Self {
        Self(bits)
    }

    /// The raw bits (`value · 2⁶⁴`).
    pub const fn to_bits(self) -> i128 {
        self.0
    }

    /// u64 to fixed, saturating at the type's integer range (2⁶³ - 2⁻⁶⁴).
    pub fn saturating_from_u64(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(v) => Self(i128::from(v) << 64),
            Err(_) => Self(i128::MAX),
        }
    }

    /// `a + b`, saturating.
    #[must_use]
    pub const fn saturating_add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }

    /// `a / b` truncated toward zero; 0 when `b = 0` or on overflow (the chain's `safe_div`).
    #[must_use]
    pub fn safe_div(self, rhs: Self) -> Self {
        if rhs.0 == 0 {
            return Self::ZERO;
        }
        let negative = (self.0 < 0) != (rhs.0 < 0);
        let (a, b) = (self.0.unsigned_abs(), rhs.0.unsigned_abs());
        if !negative && a as u64 == 0 && b as u64 == 0 {
            // Two integers (stake is normalised as such): ⌊(a·2⁶⁴)/b⌋ = ⌊(a/2⁶⁴)·2⁶⁴ / (b/2⁶⁴)⌋,
            // whose dividend fits in 128 bits since a/2⁶⁴ < 2⁶³.
            let quotient = ((a >> 64) << 64).checked_div(b >> 64);
            return quotient
                .and_then(|q| i128::try_from(q).ok())
                .map_or(Self::ZERO, Self);
        }
        let Some(magnitude) = div_shl64(a, b) else {
            return Self::ZERO;
        };
        let Ok(magnitude) = i128::try_from(magnitude) else {
            return Self::ZERO;
        };
        Self(if negative {
            magnitude.wrapping_neg()
        } else {
            magnitude
        })
    }

    /// Floor to u64, saturating; negative values give 0.
    pub fn to_u64_saturating(self) -> u64 {
        u64::try_from(self.0.max(0) >> 64).unwrap_or(u64::MAX)
    }

    /// Drops the low 32 fractional bits (rounds toward -∞), saturating at the [`I32F32`] bounds.
    pub fn to_i32f32(self) -> I32F32 {
        I32F32(saturate_i128_to_i64(self.0 >> 32))
    }
}

impl fmt::Debug for I64F64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "I64F64({:#x})", self.0)
    }
}

/// `⌊(a · 2⁶⁴) / b⌋` for `b > 0`, or `None` when the quotient does not fit in a u128.
fn div_shl64(a: u128, b: u128) -> Option<u128> {
    let high = a.checked_div(b)?;
    if high >> 64 != 0 {
        return None;
    }
    let mut rem = a.checked_rem(b)?;
    // Restoring long division of (rem · 2⁶⁴) by b, one quotient bit at a time; `carry` holds the
    // bit shifted out of the u128 so that rem < b < 2¹²⁸ never loses precision.
    let mut low: u128 = 0;
    for _ in 0..64 {
        let carry = rem >> 127 != 0;
        rem = rem.wrapping_shl(1);
        low = low.wrapping_shl(1);
        if carry || rem >= b {
            rem = rem.wrapping_sub(b);
            low |= 1;
        }
    }
    Some((high << 64) | low)
}

/// `⌊a · b⌋` on I32F32 bits of values in `[0, 1]` (bits at most 2³²): the 128-bit product shifted
/// back fits in 33 bits, so this is [`I32F32::saturating_mul`] without the saturation.
#[inline]
pub(crate) fn mul_unit(a: u64, b: u64) -> u64 {
    // At most 2⁶⁴ >> 32 = 2³² for operands at most 2³²: the cast keeps every bit.
    (u128::from(a).wrapping_mul(u128::from(b)) >> FRAC32) as u64
}

fn saturate_i128_to_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// Token amount of a share: the chain's `I96F32(share) · I96F32(E)` floored to u64,
/// i.e. `⌊share_bits · E / 2³²⌋`, saturating at `u64::MAX`; negative shares give 0.
pub fn emission_amount(share: I32F32, emission: u64) -> u64 {
    let Ok(bits) = u64::try_from(share.to_bits()) else {
        return 0;
    };
    let product = u128::from(bits).wrapping_mul(u128::from(emission));
    u64::try_from(product >> FRAC32).unwrap_or(u64::MAX)
}

/// The library's exponential series (`substrate_fixed::transcendental::exp` on I32F32).
///
/// `exp(0) = 1`; `exp(1)` is the 23-bit constant [`I32F32::E`] (checked before the sign, so
/// `exp(-1)` goes through the series); otherwise `1 + |x| + Σ_{i=2..31} t_i` with `t_1 = |x|`,
/// `t_i = ⌊t_{i-1} · |x|⌋ / i` (floor multiply, truncating divide), inverted as `1 ÷ series`
/// for negative `x`.
///
/// # Errors
/// `None` when an intermediate overflows (only for `|x|` above about 21.5).
pub fn exp_series(x: I32F32) -> Option<I32F32> {
    if x == I32F32::ZERO {
        return Some(I32F32::ONE);
    }
    if x == I32F32::ONE {
        return Some(I32F32::E);
    }
    let negative = x < I32F32::ZERO;
    let operand = if negative { x.saturating_neg() } else { x };
    let mut result = operand.checked_add(I32F32::ONE)?;
    let mut term = operand;
    for i in 2..32_u16 {
        term = term.checked_mul(operand)?;
        term = term.checked_div(I32F32::from_u16(i))?;
        result = result.checked_add(term)?;
    }
    if negative {
        result = I32F32::ONE.checked_div(result)?;
    }
    Some(result)
}

/// The chain's `exp_safe`: clamps `x` to `[-20, 20]`, then [`exp_series`]; on overflow (never
/// inside the clamp) 0 for `x ≤ 0` and [`I32F32::MAX`] otherwise.
pub fn exp_safe(x: I32F32) -> I32F32 {
    let limit = I32F32::saturating_from_int(20);
    let clamped = x.clamp(limit.saturating_neg(), limit);
    exp_clamped(clamped).unwrap_or(if clamped <= I32F32::ZERO {
        I32F32::ZERO
    } else {
        I32F32::MAX
    })
}

/// `⌊2⁶⁴ / d⌋` for `d ≥ 2³²` (a divisor of at least 1.0), i.e. the bits of `ONE ÷ d` in I32F32.
#[inline]
pub(crate) fn recip_bits(d: u64) -> Option<u64> {
    if d >> FRAC32 == 0 {
        return None;
    }
    Some(if d.is_power_of_two() {
        1_u64 << (64_u32.wrapping_sub(d.trailing_zeros()) & 63)
    } else {
        // 2⁶⁴ is not a multiple of d, so ⌊2⁶⁴ / d⌋ = ⌊(2⁶⁴ − 1) / d⌋: a 64-bit division.
        u64::MAX.checked_div(d)?
    })
}

/// One term of the series per listed index `i`: `term ← ⌊⌊term · x⌋ / i⌋`, added to `result`;
/// leaves `$series` once a term is 0 (every later one is 0 too). Unrolled so that each division
/// is by a literal, which compiles to a multiply and a shift.
macro_rules! series_terms {
    ($series:lifetime, $term:ident, $result:ident, $x:ident; $($i:literal)*) => {
        $(
            let product = u128::from($term).wrapping_mul(u128::from($x)) >> FRAC32;
            $term = u64::try_from(product).ok()?.wrapping_div($i);
            if $term == 0 {
                break $series;
            }
            $result = $result.wrapping_add($term);
        )*
    };
}

/// [`exp_series`] for `|x| ≤ 20` (what [`exp_safe`] passes), bit-identical, in u64 arithmetic.
///
/// Every operand is non-negative there and the largest term (`20²⁰/20!` ≈ 4.3·10⁷) times `|x|`
/// stays far below 2⁶³, so the checked operations never fail; the terms only shrink once they are
/// 0, which ends the loop early. `None` outside the range (the caller uses [`exp_series`]).
fn exp_clamped(x: I32F32) -> Option<I32F32> {
    if x == I32F32::ZERO {
        return Some(I32F32::ONE);
    }
    if x == I32F32::ONE {
        return Some(I32F32::E);
    }
    let operand = x.0.unsigned_abs();
    if operand > 20_u64 << FRAC32 {
        return exp_series(x);
    }
    let mut result = operand.wrapping_add(1 << FRAC32);
    let mut term = operand;
    // ⌊term · x⌋ then ⌊· / i⌋: what `checked_mul` then `checked_div(i)` give on u64 bits.
    'series: {
        series_terms!('series, term, result, operand;
            2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
    }
    let bits = if x.0 < 0 { recip_bits(result)? } else { result };
    i64::try_from(bits).ok().map(I32F32)
}

impl I32F32 {
    /// `a + b`, or `None` on overflow.
    #[must_use]
    pub const fn checked_add(self, rhs: Self) -> Option<Self> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(bits: i64) -> I32F32 {
        I32F32::from_bits(bits)
    }

    #[test]
    fn mul_floors_toward_negative_infinity() {
        // 1.5 * 2^-32 = 1.5 ulp -> 1 ulp; -1.5 ulp -> -2 ulp.
        let one_and_half = fx(3 << 31);
        assert_eq!(one_and_half.saturating_mul(fx(1)), fx(1));
        assert_eq!(one_and_half.saturating_mul(fx(-1)), fx(-2));
        assert_eq!(fx(-1).saturating_mul(fx(1)), fx(-1));
        assert_eq!(fx(1).saturating_mul(fx(1)), I32F32::ZERO);
        assert_eq!(
            I32F32::from_u16(3).saturating_mul(I32F32::HALF),
            fx(3 << 31)
        );
    }

    #[test]
    fn mul_saturates_and_checked_mul_reports_overflow() {
        let big = I32F32::saturating_from_int(100_000);
        assert_eq!(big.saturating_mul(big), I32F32::MAX);
        assert_eq!(big.saturating_mul(big.saturating_neg()), I32F32::MIN);
        assert_eq!(big.checked_mul(big), None);
    }

    #[test]
    fn div_truncates_toward_zero() {
        let one = I32F32::ONE;
        let three = I32F32::from_u16(3);
        // 1/3 = 0x5555_5555.55.. -> truncated.
        assert_eq!(one.safe_div(three), fx(0x5555_5555));
        assert_eq!(one.saturating_neg().safe_div(three), fx(-0x5555_5555));
        assert_eq!(one.safe_div(three.saturating_neg()), fx(-0x5555_5555));
        // -1 ulp / 2 truncates to 0, not -1 ulp.
        assert_eq!(fx(-1).safe_div(I32F32::from_u16(2)), I32F32::ZERO);
        // Fast and slow paths agree.
        assert_eq!(
            I32F32::from_u16(7).safe_div(three),
            fx(((7_i128 << 64) / (3_i128 << 32)) as i64)
        );
    }

    #[test]
    fn div_by_zero_and_overflow() {
        assert_eq!(I32F32::ONE.safe_div(I32F32::ZERO), I32F32::ZERO);
        assert_eq!(I32F32::ONE.checked_div(I32F32::ZERO), None);
        let big = I32F32::saturating_from_int(1 << 30);
        assert_eq!(big.safe_div(fx(1)), I32F32::ZERO);
        assert_eq!(big.saturating_div(fx(1)), I32F32::MAX);
        assert_eq!(big.saturating_div(fx(-1)), I32F32::MIN);
        assert_eq!(I32F32::ONE.saturating_div(I32F32::ZERO), I32F32::ZERO);
    }

    #[test]
    fn add_sub_saturate() {
        assert_eq!(I32F32::MAX.saturating_add(I32F32::ONE), I32F32::MAX);
        assert_eq!(I32F32::MIN.saturating_sub(I32F32::ONE), I32F32::MIN);
        assert_eq!(I32F32::MAX.checked_add(fx(1)), None);
    }

    #[test]
    fn int_conversions() {
        assert_eq!(I32F32::from_u16(65535).to_bits(), 65535_i64 << 32);
        assert_eq!(I32F32::from_i16(-100).to_bits(), -100_i64 << 32);
        assert_eq!(I32F32::saturating_from_int(1 << 40), I32F32::MAX);
        assert_eq!(fx((5 << 32) + 0xFFFF_FFFF).to_u16_saturating(), 5);
        assert_eq!(fx(-1).to_u16_saturating(), 0);
        assert_eq!(
            I32F32::saturating_from_int(70_000).to_u16_saturating(),
            65535
        );
        assert_eq!(fx(-1).to_u64_saturating(), 0);
        assert_eq!(fx((9 << 32) + 1).to_u64_saturating(), 9);
    }

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(fx(5 << 31).round(), I32F32::from_u16(3)); // 2.5 -> 3
        assert_eq!(fx(-(5 << 31)).round(), I32F32::saturating_from_int(-3));
        assert_eq!(fx((2 << 32) + (1 << 31) - 1).round(), I32F32::from_u16(2));
        assert_eq!(
            fx(-((2 << 32) + (1 << 31) - 1)).round(),
            I32F32::saturating_from_int(-2)
        );
    }

    #[test]
    fn u16_ratios_and_proportions() {
        // kappa 32767/65535 truncated.
        let kappa = I32F32::from_u16_ratio(32767);
        assert_eq!(kappa.to_bits(), ((32767_i128 << 32) / 65535) as i64);
        assert_eq!(I32F32::from_u16_ratio(65535), I32F32::ONE);
        assert_eq!(I32F32::from_u16_ratio(0), I32F32::ZERO);
        // floor_u16: 0.25 -> 16383 (16383.75 floored), 1 -> 65535, >1 saturates, <0 -> 0.
        assert_eq!(fx(1 << 30).to_u16_proportion(), 16383);
        assert_eq!(I32F32::ONE.to_u16_proportion(), 65535);
        assert_eq!(I32F32::from_u16(2).to_u16_proportion(), 65535);
        assert_eq!(fx(-5).to_u16_proportion(), 0);
    }

    #[test]
    fn i64f64_normalise_and_truncate() {
        let a = I64F64::saturating_from_u64(1);
        let b = I64F64::saturating_from_u64(3);
        let q = a.safe_div(b);
        assert_eq!(q.to_bits(), (1_i128 << 64) / 3);
        assert_eq!(q.to_i32f32(), fx(0x5555_5555));
        assert_eq!(a.safe_div(I64F64::ZERO), I64F64::ZERO);
        assert_eq!(
            I64F64::saturating_from_u64(u64::MAX).to_bits(),
            i128::MAX,
            "saturates at the integer range"
        );
        assert_eq!(I64F64::saturating_from_u64(7).to_u64_saturating(), 7);
        // Wide division: a large numerator whose shifted value needs more than 128 bits.
        let big = I64F64::saturating_from_u64(1 << 61);
        let sum = big.saturating_add(big).saturating_add(big);
        assert_eq!(big.safe_div(sum).to_bits(), (1_i128 << 64) / 3);
        // Quotient overflow gives 0.
        assert_eq!(big.safe_div(I64F64::from_bits(1)), I64F64::ZERO);
        // The integer fast path agrees with the long division.
        let mut x: u64 = 11;
        for _ in 0..5000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (p, q) = (x >> (x % 64), (x >> 1) | 1);
            let (a, b) = (
                I64F64::saturating_from_u64(p),
                I64F64::saturating_from_u64(q),
            );
            let want = div_shl64(a.to_bits().unsigned_abs(), b.to_bits().unsigned_abs())
                .and_then(|v| i128::try_from(v).ok())
                .map_or(I64F64::ZERO, I64F64::from_bits);
            assert_eq!(a.safe_div(b), want, "{p} / {q}");
        }
        // Negative operands truncate toward zero.
        assert_eq!(
            I64F64::from_bits(-(1 << 64)).safe_div(b).to_bits(),
            -((1_i128 << 64) / 3)
        );
    }

    #[test]
    fn emission_amount_floors() {
        assert_eq!(emission_amount(I32F32::HALF, 1_000_000_001), 500_000_000);
        assert_eq!(emission_amount(I32F32::ONE, u64::MAX), u64::MAX);
        assert_eq!(emission_amount(fx(-1), 10), 0);
        assert_eq!(emission_amount(fx(0x5555_5555), 3_000_000_000), 999_999_999);
    }

    #[test]
    fn reciprocal_division_is_exact() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for d in [
            1_u64,
            2,
            3,
            7,
            65535,
            131_070,
            1 << 31,
            (1 << 32) + 1,
            u64::MAX,
        ] {
            let div = U64Divisor::new(d).unwrap();
            for _ in 0..2000 {
                let v = next();
                for x in [v, v >> 16, v >> 40, d.wrapping_mul(v >> 40), u64::MAX] {
                    assert_eq!(div.div(x), x / d, "{x} / {d}");
                }
            }
        }
        assert!(U64Divisor::new(0).is_none());
        // div_fixed agrees with safe_div, including the overflow (-> 0) and >= 1 cases.
        for d in [1_i64, 3, 1 << 20, 1 << 32, (1 << 32) + 12345, i64::MAX] {
            let div = U64Divisor::new(d as u64).unwrap();
            for _ in 0..2000 {
                let a = fx((next() >> 30) as i64);
                assert_eq!(div.div_fixed(a), a.safe_div(fx(d)), "{a:?} / {d}");
            }
            assert_eq!(div.div_fixed(fx(-5)), fx(-5).safe_div(fx(d)));
        }
    }

    #[test]
    fn fast_division_paths_match_wide_division() {
        let wide = |a: i64, b: i64| -> I32F32 {
            i64::try_from((i128::from(a) << 32) / i128::from(b)).map_or(I32F32::ZERO, fx)
        };
        let mut x: u64 = 99;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let a = (x >> 20) as i64;
            let b_frac = ((x << 7) >> 30) as i64 + 1;
            let b_int = (((x >> 3) % 100_000) as i64 + 1) << 32;
            for b in [b_frac, b_int] {
                assert_eq!(fx(a).safe_div(fx(b)), wide(a, b), "{a} / {b}");
                assert_eq!(fx(a >> 20).safe_div(fx(b)), wide(a >> 20, b));
            }
        }
    }

    #[test]
    fn exp_special_values() {
        assert_eq!(exp_series(I32F32::ZERO), Some(I32F32::ONE));
        assert_eq!(exp_series(I32F32::ONE), Some(I32F32::E));
        assert_eq!(I32F32::E.to_bits(), 22_802_600_i64 << 9);
        // exp(-1) goes through the series, not the constant.
        let series_one = {
            let mut r = I32F32::from_u16(2);
            let mut t = I32F32::ONE;
            for i in 2..32_u16 {
                t = t.safe_div(I32F32::from_u16(i));
                r = r.saturating_add(t);
            }
            r
        };
        assert_eq!(
            exp_series(I32F32::ONE.saturating_neg()),
            Some(I32F32::ONE.safe_div(series_one))
        );
    }

    #[test]
    fn fast_mul_matches_saturating_mul() {
        let mut x: u64 = 3;
        let one = 1_i64 << 32;
        let mut values = vec![0, 1, one - 1, one, one + 1, -1, -one, i64::MAX, i64::MIN];
        for _ in 0..2000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            values.push((x >> 31) as i64);
            values.push((x >> 40) as i64 - (1 << 23));
        }
        for &a in &values {
            for &b in values.iter().step_by(7) {
                assert_eq!(
                    fx(a).mul_fast(fx(b)),
                    fx(a).saturating_mul(fx(b)),
                    "{a} * {b}"
                );
            }
        }
    }

    #[test]
    fn fast_exp_matches_series() {
        let mut x: u64 = 7;
        let limit = 20_i64 << 32;
        let check = |bits: i64| {
            let v = fx(bits);
            assert_eq!(exp_clamped(v), exp_series(v), "exp({bits:#x})");
        };
        for bits in [
            0,
            1,
            -1,
            1 << 32,
            -(1 << 32),
            limit,
            -limit,
            limit - 1,
            1 << 31,
        ] {
            check(bits);
        }
        for k in -20_i64..=20 {
            check(k << 32);
            check((k << 32) + 1);
        }
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let bits = ((x >> 20) as i64) % limit;
            check(bits);
            check(-bits);
            check(bits >> (x % 40));
        }
        for d in [
            1_u64 << 32,
            (1 << 32) + 1,
            3 << 32,
            1 << 40,
            u64::MAX >> 1,
            12_345 << 20,
        ] {
            let want = ((1_u128 << 64) / u128::from(d)) as u64;
            assert_eq!(recip_bits(d), Some(want), "{d}");
        }
        assert_eq!(recip_bits((1 << 32) - 1), None);
    }

    #[test]
    fn exp_accuracy_and_clamp() {
        for x10 in -100_i16..=100 {
            let x = I32F32::from_i16(x10).safe_div(I32F32::from_u16(10));
            let got = exp_safe(x).to_f64();
            let want = x.to_f64().exp();
            assert!(
                // 3e-8 relative, plus the 23-bit exp(1) constant's 3.04e-8.
                ((got - want) / want).abs() < 3.1e-8 || (got - want).abs() < 1e-9,
                "exp({}) = {got}, want {want}",
                x.to_f64()
            );
        }
        let twenty = I32F32::saturating_from_int(20);
        assert_eq!(
            exp_safe(I32F32::saturating_from_int(1000)),
            exp_safe(twenty)
        );
        assert_eq!(
            exp_safe(I32F32::saturating_from_int(-1000)),
            exp_safe(twenty.saturating_neg())
        );
        // The truncated series is 1-10 % low at 20, but finite and positive.
        let e20 = exp_safe(twenty).to_f64();
        assert!(e20 > 0.85 * 20f64.exp() && e20 <= 20f64.exp(), "{e20}");
        assert!(exp_safe(twenty.saturating_neg()) > I32F32::ZERO);
        assert_eq!(exp_series(I32F32::saturating_from_int(30)), None);
    }
}
