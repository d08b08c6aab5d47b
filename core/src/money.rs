//! Money as shoppers read it: integer minor units (cents) and an ISO 4217 currency code.
//!
//! Prices are stored in the currency's minor unit, so `199_00` is "$199.00" in USD and
//! `199` is "¥199" in JPY (a currency without decimals). The symbols follow what browsers
//! print for `en-US` (`Intl.NumberFormat`), so pages formatted in Rust and in JavaScript agree.

/// The symbol and the number of decimals of a currency; unlisted codes print as "XYZ 1.00".
const CURRENCIES: &[(&str, &str, u32)] = &[
    ("USD", "$", 2),
    ("EUR", "€", 2),
    ("GBP", "£", 2),
    ("JPY", "¥", 0),
    ("KRW", "₩", 0),
    ("CNY", "CN¥", 2),
    ("INR", "₹", 2),
    ("CAD", "CA$", 2),
    ("AUD", "A$", 2),
    ("CHF", "CHF ", 2),
];

/// Whether `code` has the shape of an ISO 4217 code: three capital letters.
pub fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Decimals of `code`'s minor unit (2 for an unlisted code, the common case).
pub fn decimals(code: &str) -> u32 {
    CURRENCIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(2, |(_, _, d)| *d)
}

/// `minor` units of `code` as a shopper reads them: "$1,299.00", "€5.00", "¥199", "-$0.50".
pub fn format_money(minor: i64, code: &str) -> String {
    let decimals = decimals(code);
    let symbol = CURRENCIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or_else(|| format!("{code} "), |(_, s, _)| (*s).to_owned());
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let scale = 10u64.pow(decimals);
    let units = group_thousands(minor / scale);
    if decimals == 0 {
        format!("{sign}{symbol}{units}")
    } else {
        let fraction = minor % scale;
        format!(
            "{sign}{symbol}{units}.{fraction:0width$}",
            width = decimals as usize
        )
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_read_with_the_currency_symbol() {
        assert_eq!(format_money(19_900, "USD"), "$199.00");
        assert_eq!(format_money(19_900, "EUR"), "€199.00");
        assert_eq!(format_money(5, "GBP"), "£0.05");
        assert_eq!(format_money(0, "USD"), "$0.00");
    }

    #[test]
    fn zero_decimal_currencies_have_no_fraction() {
        assert_eq!(format_money(199, "JPY"), "¥199");
        assert_eq!(format_money(1_500_000, "KRW"), "₩1,500,000");
    }

    #[test]
    fn large_amounts_are_grouped_and_negatives_signed() {
        assert_eq!(format_money(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(format_money(100_000, "USD"), "$1,000.00");
        assert_eq!(format_money(-50, "USD"), "-$0.50");
    }

    #[test]
    fn an_unlisted_code_prints_itself() {
        assert_eq!(format_money(1_250, "SEK"), "SEK 12.50");
    }

    #[test]
    fn codes_are_three_capital_letters() {
        assert!(is_currency_code("USD"));
        assert!(!is_currency_code("usd"));
        assert!(!is_currency_code("US"));
        assert!(!is_currency_code("USDT"));
        assert!(!is_currency_code("U$D"));
    }
}
