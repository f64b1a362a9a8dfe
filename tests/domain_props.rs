//! Property tests for money and periods: the invariants every ledger line relies on.

use creditline::domain::{Money, Period};
use proptest::prelude::*;

proptest! {
    #[test]
    fn money_format_parse_round_trip(cents in any::<i64>()) {
        let m = Money::from_cents(cents);
        prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        prop_assert_eq!(Money::parse(&m.short()), Ok(m));
    }

    #[test]
    fn money_arithmetic_never_panics_and_agrees_with_i128(a in any::<i64>(), b in any::<i64>(), k in any::<i64>()) {
        let (x, y) = (Money::from_cents(a), Money::from_cents(b));
        let exact = |v: i128| i64::try_from(v).ok();
        prop_assert_eq!(x.checked_add(y).ok().map(Money::cents), exact(a as i128 + b as i128));
        prop_assert_eq!(x.checked_sub(y).ok().map(Money::cents), exact(a as i128 - b as i128));
        prop_assert_eq!(x.checked_mul(k).ok().map(Money::cents), exact(a as i128 * k as i128));
        prop_assert_eq!(x.checked_neg().ok().map(Money::cents), exact(-(a as i128)));
    }

    #[test]
    fn money_parse_never_panics(s in "\\PC{0,40}") {
        let _ = Money::parse(&s);
    }

    #[test]
    fn money_parse_accepts_grouped_dollars(dollars in 0u64..10_000_000_000, cents in 0u8..100) {
        let plain = format!("{dollars}.{cents:02}");
        let expected = Money::from_cents((dollars * 100 + u64::from(cents)) as i64);
        prop_assert_eq!(Money::parse(&format!("USD {plain}")), Ok(expected));
        prop_assert_eq!(Money::parse(&format!("{plain} USD")), Ok(expected));
        prop_assert_eq!(Money::parse(&format!("${plain}/month")), Ok(expected));
    }

    #[test]
    fn periods_step_and_round_trip(year in 1971i32..9998, month in 1u32..=12) {
        let p = Period::new(year, month).unwrap();
        prop_assert_eq!(p.to_string().parse::<Period>(), Ok(p));
        prop_assert_eq!(p.next().and_then(Period::previous), Some(p));
        prop_assert_eq!(p.end(), p.next().unwrap().start());
        prop_assert!(p.days() >= 28 && p.days() <= 31);
    }
}
