//! Domain newtypes shared by every crate: [`Uid`], [`NetUid`], [`BlockNumber`] and the amount
//! type [`Rao`].
//!
//! They serialize as their bare integers (`#[serde(transparent)]`), so JSON and postcard forms
//! are the plain numbers. Amounts never overflow silently: [`Rao`] offers only checked and
//! saturating arithmetic.

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Defines a `u16` identifier newtype with its conversions, `Display` and `FromStr`.
macro_rules! u16_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
            Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u16);

        impl $name {
            /// The raw number.
            pub const fn get(self) -> u16 {
                self.0
            }
        }

        impl From<u16> for $name {
            fn from(v: u16) -> Self {
                Self(v)
            }
        }

        impl From<$name> for u16 {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIntError;

            /// Parses a decimal number in `0..=65535`.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

u16_id! {
    /// A neuron's slot on a subnet (0-based, below the subnet's `max_allowed_uids`).
    ///
    /// Displayed as the bare number.
    Uid
}

u16_id! {
    /// A subnet's number on the chain. [`NetUid::ROOT`] (0) is the root network.
    ///
    /// Displayed as the bare number.
    NetUid
}

impl Uid {
    /// The uid as an index into per-neuron vectors (lossless: `u16` fits every `usize`).
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl TryFrom<usize> for Uid {
    type Error = std::num::TryFromIntError;

    /// The uid of position `index` in a per-neuron vector.
    ///
    /// # Errors
    /// When `index` exceeds `u16::MAX`.
    fn try_from(index: usize) -> Result<Self, Self::Error> {
        u16::try_from(index).map(Self)
    }
}

impl NetUid {
    /// The root network.
    pub const ROOT: Self = Self(0);
}

/// A block height; the genesis block is 0.
///
/// Displayed as the bare number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct BlockNumber(pub u64);

impl BlockNumber {
    /// The genesis block.
    pub const GENESIS: Self = Self(0);

    /// The raw height.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The block `blocks` after this one, or `None` on overflow.
    pub const fn checked_add(self, blocks: u64) -> Option<Self> {
        match self.0.checked_add(blocks) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The block `blocks` after this one, stopping at `u64::MAX`.
    pub const fn saturating_add(self, blocks: u64) -> Self {
        Self(self.0.saturating_add(blocks))
    }

    /// The block `blocks` before this one, stopping at genesis.
    pub const fn saturating_sub(self, blocks: u64) -> Self {
        Self(self.0.saturating_sub(blocks))
    }

    /// Blocks elapsed from `earlier` to `self`; 0 when `earlier` is not before `self`.
    pub const fn saturating_since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<u64> for BlockNumber {
    fn from(v: u64) -> Self {
        Self(v)
    }
}

impl From<BlockNumber> for u64 {
    fn from(v: BlockNumber) -> Self {
        v.0
    }
}

impl fmt::Display for BlockNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for BlockNumber {
    type Err = ParseIntError;

    /// Parses a decimal height.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// Rao in one token: the token is divisible into 10⁹ rao, as TAO is on Bittensor.
pub const RAO_PER_TOKEN: u64 = 1_000_000_000;
/// Decimal places of a token amount written in tokens.
pub const TOKEN_DECIMALS: usize = 9;

/// An amount of the chain's token, counted in rao (10⁻⁹ token, see [`RAO_PER_TOKEN`]).
///
/// Serialized as the integer number of rao. `Display` writes the amount in tokens with up to
/// nine decimals and no trailing zeros (`1.5`, `0.000000001`, `12`); `FromStr` reads that form
/// back exactly, with no floating point.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Rao(pub u64);

impl Rao {
    /// No tokens.
    pub const ZERO: Self = Self(0);
    /// The largest representable amount.
    pub const MAX: Self = Self(u64::MAX);
    /// Exactly one token.
    pub const ONE_TOKEN: Self = Self(RAO_PER_TOKEN);

    /// The amount in rao.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `tokens` whole tokens, or `None` if that does not fit in `u64` rao.
    pub const fn from_tokens(tokens: u64) -> Option<Self> {
        match tokens.checked_mul(RAO_PER_TOKEN) {
            Some(r) => Some(Self(r)),
            None => None,
        }
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The whole tokens in this amount (rounded down).
    pub const fn whole_tokens(self) -> u64 {
        self.0 / RAO_PER_TOKEN
    }

    /// The rao left over after [`Rao::whole_tokens`].
    pub const fn fraction_rao(self) -> u64 {
        self.0 % RAO_PER_TOKEN
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(r) => Some(Self(r)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other` is larger.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(r) => Some(Self(r)),
            None => None,
        }
    }

    /// `self * factor`, or `None` on overflow.
    pub const fn checked_mul(self, factor: u64) -> Option<Self> {
        match self.0.checked_mul(factor) {
            Some(r) => Some(Self(r)),
            None => None,
        }
    }

    /// `self / divisor` rounded down, or `None` if `divisor` is 0.
    pub const fn checked_div(self, divisor: u64) -> Option<Self> {
        match self.0.checked_div(divisor) {
            Some(r) => Some(Self(r)),
            None => None,
        }
    }

    /// `self + other`, stopping at [`Rao::MAX`].
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, stopping at zero.
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// `self * factor`, stopping at [`Rao::MAX`].
    pub const fn saturating_mul(self, factor: u64) -> Self {
        Self(self.0.saturating_mul(factor))
    }

    /// `⌊self · numerator / denominator⌋`, computed in 128 bits so the product cannot overflow:
    /// the share of an amount, such as a royalty in parts per million.
    ///
    /// `None` when `denominator` is 0 or the result exceeds [`Rao::MAX`].
    pub const fn checked_mul_ratio(self, numerator: u64, denominator: u64) -> Option<Self> {
        // u64 × u64 always fits in u128, so only the division and the narrowing can fail.
        let product = (self.0 as u128).saturating_mul(numerator as u128);
        let Some(quotient) = product.checked_div(denominator as u128) else {
            return None;
        };
        if quotient > u64::MAX as u128 {
            return None;
        }
        Some(Self(quotient as u64))
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum<I: IntoIterator<Item = Self>>(amounts: I) -> Option<Self> {
        amounts
            .into_iter()
            .try_fold(Self::ZERO, |acc, a| acc.checked_add(a))
    }
}

impl From<u64> for Rao {
    fn from(rao: u64) -> Self {
        Self(rao)
    }
}

impl From<Rao> for u64 {
    fn from(v: Rao) -> Self {
        v.0
    }
}

impl fmt::Display for Rao {
    /// Writes the amount in tokens: `1.5`, `0.000000001`, `12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.whole_tokens();
        let frac = self.fraction_rao();
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:0width$}", width = TOKEN_DECIMALS);
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Why a string is not a token amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountParseError {
    /// Empty, or a character other than digits and one decimal point.
    #[error("not a decimal token amount")]
    Invalid,
    /// More than nine decimal places: finer than one rao.
    #[error("more than {TOKEN_DECIMALS} decimal places")]
    TooPrecise,
    /// Larger than [`Rao::MAX`].
    #[error("amount too large")]
    Overflow,
}

impl FromStr for Rao {
    type Err = AmountParseError;

    /// Parses an amount in tokens (`12`, `1.5`, `0.000000001`), exactly.
    ///
    /// # Errors
    /// [`AmountParseError`] for anything but digits with at most one `.` and at most nine
    /// decimals, or an amount over [`Rao::MAX`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
            return Err(AmountParseError::Invalid);
        }
        if s.ends_with('.') {
            return Err(AmountParseError::Invalid);
        }
        if frac.len() > TOKEN_DECIMALS {
            return Err(AmountParseError::TooPrecise);
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| AmountParseError::Overflow)?
        };
        let frac_rao: u64 = if frac.is_empty() {
            0
        } else {
            // Right-pad to nine digits: "5" means 500_000_000 rao.
            let padded = format!("{frac:0<width$}", width = TOKEN_DECIMALS);
            padded.parse().map_err(|_| AmountParseError::Invalid)?
        };
        Self::from_tokens(whole)
            .and_then(|w| w.checked_add(Self(frac_rao)))
            .ok_or(AmountParseError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ids_serialize_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&Uid(7)).unwrap(), "7");
        assert_eq!(serde_json::to_string(&NetUid(3)).unwrap(), "3");
        assert_eq!(serde_json::to_string(&BlockNumber(99)).unwrap(), "99");
        assert_eq!(serde_json::to_string(&Rao(5)).unwrap(), "5");
        assert_eq!(serde_json::from_str::<Uid>("65535").unwrap(), Uid(u16::MAX));
        assert!(serde_json::from_str::<Uid>("65536").is_err());
        assert_eq!(postcard::to_allocvec(&NetUid(1)).unwrap(), vec![1]);
    }

    #[test]
    fn conversions_and_display() {
        assert_eq!(u16::from(Uid::from(4)), 4);
        assert_eq!(Uid(9).index(), 9);
        assert_eq!(Uid::try_from(65_535usize).unwrap(), Uid(u16::MAX));
        assert!(Uid::try_from(65_536usize).is_err());
        assert_eq!("12".parse::<NetUid>().unwrap(), NetUid(12));
        assert_eq!(NetUid(12).to_string(), "12");
        assert_eq!("40".parse::<BlockNumber>().unwrap().to_string(), "40");
        assert_eq!(u64::from(BlockNumber::from(8)), 8);
    }

    #[test]
    fn block_arithmetic_does_not_overflow() {
        let b = BlockNumber(u64::MAX - 1);
        assert_eq!(b.checked_add(1), Some(BlockNumber(u64::MAX)));
        assert_eq!(b.checked_add(2), None);
        assert_eq!(b.saturating_add(5), BlockNumber(u64::MAX));
        assert_eq!(BlockNumber(3).saturating_sub(5), BlockNumber::GENESIS);
        assert_eq!(BlockNumber(10).saturating_since(BlockNumber(4)), 6);
        assert_eq!(BlockNumber(4).saturating_since(BlockNumber(10)), 0);
    }

    #[test]
    fn rao_arithmetic_is_checked_or_saturating() {
        assert_eq!(Rao::from_tokens(2), Some(Rao(2_000_000_000)));
        assert_eq!(Rao::from_tokens(u64::MAX), None);
        assert_eq!(Rao(5).checked_add(Rao(6)), Some(Rao(11)));
        assert_eq!(Rao::MAX.checked_add(Rao(1)), None);
        assert_eq!(Rao(5).checked_sub(Rao(6)), None);
        assert_eq!(Rao(5).saturating_sub(Rao(6)), Rao::ZERO);
        assert_eq!(Rao::MAX.saturating_add(Rao(1)), Rao::MAX);
        assert_eq!(Rao::MAX.saturating_mul(2), Rao::MAX);
        assert_eq!(Rao(u64::MAX / 2 + 1).checked_mul(2), None);
        assert_eq!(Rao(7).checked_div(2), Some(Rao(3)));
        assert_eq!(Rao(7).checked_div(0), None);
        assert_eq!(
            Rao(1_000).checked_mul_ratio(250_000, 1_000_000),
            Some(Rao(250))
        );
        // The 128-bit product keeps precision where a u64 product would overflow.
        assert_eq!(
            Rao::MAX.checked_mul_ratio(3, 4),
            Some(Rao(u64::MAX / 4 * 3 + 2))
        );
        assert_eq!(Rao::MAX.checked_mul_ratio(2, 1), None);
        assert_eq!(Rao(1).checked_mul_ratio(1, 0), None);
        assert_eq!(Rao::checked_sum([Rao(1), Rao(2), Rao(3)]), Some(Rao(6)));
        assert_eq!(Rao::checked_sum([Rao::MAX, Rao(1)]), None);
        assert_eq!(Rao::checked_sum([]), Some(Rao::ZERO));
    }

    #[test]
    fn rao_displays_in_tokens() {
        assert_eq!(Rao(0).to_string(), "0");
        assert_eq!(Rao(1).to_string(), "0.000000001");
        assert_eq!(Rao(1_500_000_000).to_string(), "1.5");
        assert_eq!(Rao(12 * RAO_PER_TOKEN).to_string(), "12");
        assert_eq!(Rao::MAX.to_string(), "18446744073.709551615");
    }

    #[test]
    fn rao_parses_token_amounts_exactly() {
        assert_eq!("1.5".parse::<Rao>(), Ok(Rao(1_500_000_000)));
        assert_eq!(".5".parse::<Rao>(), Ok(Rao(500_000_000)));
        assert_eq!("0.000000001".parse::<Rao>(), Ok(Rao(1)));
        assert_eq!("18446744073.709551615".parse::<Rao>(), Ok(Rao::MAX));
        assert_eq!(
            "18446744073.709551616".parse::<Rao>(),
            Err(AmountParseError::Overflow)
        );
        assert_eq!(
            "99999999999".parse::<Rao>(),
            Err(AmountParseError::Overflow)
        );
        assert_eq!(
            "0.0000000001".parse::<Rao>(),
            Err(AmountParseError::TooPrecise)
        );
        for bad in ["", ".", "1.", "-1", "1.2.3", "1e9", " 1", "1,5", "+1"] {
            assert_eq!(
                bad.parse::<Rao>(),
                Err(AmountParseError::Invalid),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn rao_display_parse_round_trip(rao in any::<u64>()) {
            prop_assert_eq!(Rao(rao).to_string().parse::<Rao>(), Ok(Rao(rao)));
        }

        #[test]
        fn mul_ratio_matches_wide_arithmetic(a in any::<u64>(), n in any::<u64>(), d in 1u64..) {
            let wide = u128::from(a) * u128::from(n) / u128::from(d);
            let got = Rao(a).checked_mul_ratio(n, d);
            prop_assert_eq!(got, u64::try_from(wide).ok().map(Rao));
        }
    }
}
