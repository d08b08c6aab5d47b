//! The orders as CSV, safe to open in a spreadsheet: a cell that starts with `=`, `+`, `-`
//! or `@` (or a tab or carriage return, or spaces before one of those) would be run as a
//! formula, so it gets a leading `'`. Every cell holding a separator a spreadsheet may split
//! on (`,`, or `;` as European locales use, or a tab), a quote or a line break is quoted, so
//! no part of a name becomes a cell of its own. Shopper and product names are typed by
//! strangers; this is where that matters.

use flashsale_core::db::OrderRow;

pub const HEADER: &str =
    "order_id,accepted_at,user_id,user_name,nick_name,product_id,product_name,price,currency,status\r\n";

/// One order as a CSV line (RFC 4180, CRLF). `price_cents` is the product's price (`None`:
/// the product was deleted), written as a plain amount in `currency` ("19.99", "199" for
/// yen) so a spreadsheet sums it; the currency's code is the next cell.
pub fn line(o: &OrderRow, accepted_at: &str, price_cents: Option<i64>, currency: &str) -> String {
    let cells = [
        o.order_id.clone(),
        accepted_at.to_string(),
        o.user_id.to_string(),
        o.user_name.clone().unwrap_or_default(),
        o.nick_name.clone().unwrap_or_default(),
        o.product_id.to_string(),
        o.product_name.clone().unwrap_or_default(),
        price_cents.map_or_else(String::new, |c| amount(c, currency)),
        currency.to_string(),
        o.status.as_str().to_string(),
    ];
    let mut out = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// Minor units as a plain decimal amount in `currency`: 1999 -> "19.99" (USD), "1999" (JPY).
fn amount(minor: i64, currency: &str) -> String {
    let decimals = flashsale_core::money::decimals(currency);
    let scale = 10i64.pow(decimals);
    let sign = if minor < 0 { "-" } else { "" };
    let (whole, fraction) = (minor.abs() / scale, minor.abs() % scale);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!(
            "{sign}{whole}.{fraction:0width$}",
            width = decimals as usize
        )
    }
}

/// A cell defused and quoted when it needs to be.
pub fn cell(value: &str) -> String {
    let defused = if value
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if defused.contains([',', ';', '\t', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_the_currencys_decimals() {
        assert_eq!(amount(1_999, "USD"), "19.99");
        assert_eq!(amount(5, "EUR"), "0.05");
        assert_eq!(amount(1_999, "JPY"), "1999");
    }

    #[test]
    fn formulas_are_defused_and_quotes_escaped() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2+3"), "'-2+3");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(cell("Pocket Phone"), "Pocket Phone");
    }

    /// Regression (issue 14, finding 8): a `;` in a name let a European spreadsheet split the
    /// cell and run what followed as a formula.
    #[test]
    fn finding_8_a_semicolon_never_starts_a_new_cell() {
        assert_eq!(cell("bob;=1+1"), "\"bob;=1+1\"");
        assert_eq!(cell("a\t=1"), "\"a\t=1\"");
        assert_eq!(cell("  =cmd()"), "'  =cmd()");
    }
}
