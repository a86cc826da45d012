//! Value formats Frappe checks on `Data` fields and temporal fields, and what counts as an
//! empty value for `reqd`: pure functions over one value (and its field), no store.
//!
//! Each check follows Frappe's own (`frappe/utils/__init__.py`: `validate_email_address`,
//! `split_emails`, `validate_url`, `validate_phone_number`, `validate_name`;
//! `base_document.py`: `_get_missing_mandatory_fields`). Where this module is stricter than
//! Frappe the README says so: an email must match as a whole (Frappe accepts a valid prefix)
//! and a URL needs a scheme (Frappe accepts `//host`).

use super::Field;
use serde_json::Value;

/// Why the string value of `field` breaks its format, if it does: `Data` with `options`
/// `Email`, `URL`, `Phone` or `Name`, and the `Phone` fieldtype (Frappe's pattern; Frappe
/// also checks the number plan there, this does not). Blank values are `reqd`'s concern.
pub(crate) fn data_format_problem(field: &Field, text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    let option = match field.fieldtype.as_str() {
        "Phone" => "Phone",
        "Data" => field.options.as_deref().unwrap_or_default().trim(),
        _ => return None,
    };
    match option {
        "Email" => email_problem(text),
        "URL" => url_problem(text),
        "Phone" => (!is_phone(text)).then(|| {
            format!("`{text}` is not a valid phone number (up to 20 digits, spaces and + - ( ) . , * # _)")
        }),
        "Name" => (!is_person_name(text)).then(|| {
            format!("`{text}` is not a valid name (words of letters, digits, ' and -)")
        }),
        _ => None,
    }
}

/// A present value that is still empty for `reqd`: a string without content (see
/// [`has_content`]). Numbers and booleans (even 0) are values.
pub(crate) fn is_blank(field: &Field, value: Option<&Value>) -> bool {
    let markup = matches!(field.fieldtype.as_str(), "Text Editor" | "HTML Editor")
        || (field.fieldtype == "Code" && field.options.as_deref() == Some("HTML"));
    match value {
        Some(Value::String(text)) => !has_content(text, markup),
        _ => false,
    }
}

/// Why `text`, a `Data` value with `options` `Email`, is not a list of email addresses
/// (comma- or newline-separated, `Name <address>` accepted), or `None` if it is one.
pub(crate) fn email_problem(text: &str) -> Option<String> {
    let mut any = false;
    for part in split_emails(text) {
        any = true;
        if part.contains("undisclosed-recipient") || (part.contains(' ') && !part.contains('<')) {
            return Some(format!("`{part}` is not a valid email address"));
        }
        let address = match (part.rfind('<'), part.rfind('>')) {
            (Some(open), Some(close)) if open < close => part[open + 1..close].trim(),
            (None, None) => part,
            _ => return Some(format!("`{part}` is not a valid email address")),
        };
        if !is_email_address(&address.to_lowercase()) {
            return Some(format!(
                "`{address}` is not a valid email address (`user@domain.tld`)"
            ));
        }
    }
    (!any).then(|| "no email address given".to_string())
}

/// Frappe's `split_emails`: on commas and newlines outside double quotes, trimmed, empty
/// parts dropped.
fn split_emails(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' | '\n' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Frappe's address pattern, matched as a whole: a dot-atom local part, `@`, and a domain of
/// at least two labels (letters, digits, inner hyphens).
fn is_email_address(address: &str) -> bool {
    const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let atom = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || LOCAL_SPECIALS.contains(c))
    };
    let label = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    local.split('.').all(atom) && domain.split('.').count() >= 2 && domain.split('.').all(label)
}

/// Why `text` is not a URL with a scheme and a host (`https://example.com/x`), if it is not.
pub(crate) fn url_problem(text: &str) -> Option<String> {
    let bad = || Some(format!("`{text}` is not a valid URL (`scheme://host/...`)"));
    let Some((scheme, rest)) = text.split_once("://") else {
        return bad();
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host_ok = !host.is_empty() && !host.chars().any(char::is_whitespace);
    if scheme_ok && host_ok { None } else { bad() }
}

/// Frappe's phone pattern: 1 to 20 of digits, spaces and `+ _ - , . * # ( )` (trimmed).
pub(crate) fn is_phone(text: &str) -> bool {
    let text = text.trim();
    let count = text.chars().count();
    (1..=20).contains(&count)
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +_-,.*#()".contains(c))
}

/// Frappe's person-name pattern: words of letters, digits, `_`, `'` and `-`, each starting
/// with a letter, digit or `_`, separated by single spaces (trimmed).
pub(crate) fn is_person_name(text: &str) -> bool {
    let word = |w: &str| {
        let mut chars = w.chars();
        chars.next().is_some_and(is_word_char)
            && chars.all(|c| is_word_char(c) || c == '\'' || c == '-')
    };
    let text = text.trim();
    !text.is_empty() && text.split(' ').all(word)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether a string holds content for `reqd`: Frappe strips HTML tags and whitespace
/// (`&nbsp;` counts as whitespace here); in a markup field (`Text Editor`, `HTML Editor`,
/// `Code` with `options: HTML`) an image is content.
pub(crate) fn has_content(text: &str, markup: bool) -> bool {
    if markup && text.to_ascii_lowercase().contains("<img") {
        return true;
    }
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(tag) = rest.strip_prefix('<')
            && let Some(close) = tag.find('>')
        {
            rest = &tag[close + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("&nbsp;") {
            rest = after;
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if !c.is_whitespace() {
            return true;
        }
        rest = &rest[c.len_utf8()..];
    }
    false
}

/// A date `YYYY-MM-DD` that exists (Frappe's storage format).
pub(crate) fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    match (number(&text[..4]), number(&text[5..7]), number(&text[8..])) {
        (Some(y), Some(m), Some(d)) if y >= 1 => {
            jiff::civil::Date::new(y as i16, m as i8, d as i8).is_ok()
        }
        _ => false,
    }
}

/// A time of day `H:MM`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.ffffff` (1 to 6 fraction digits).
pub(crate) fn is_time(text: &str) -> bool {
    let (clock, fraction) = match text.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let two = |p: &str, max: u32| p.len() == 2 && number(p).is_some_and(|n| n <= max);
    let shape = match parts.as_slice() {
        [h, m] => fraction.is_none() && hour(h) && two(m, 59),
        [h, m, s] => hour(h) && two(m, 59) && two(s, 59),
        _ => false,
    };
    shape && fraction.is_none_or(|f| (1..=6).contains(&f.len()) && number(f).is_some())
}

fn hour(text: &str) -> bool {
    (1..=2).contains(&text.len()) && number(text).is_some_and(|h| h <= 23)
}

/// A datetime: a date, a space (or `T`) and a time (`YYYY-MM-DD HH:MM:SS[.ffffff]`).
pub(crate) fn is_datetime(text: &str) -> bool {
    text.len() > 11
        && text.is_char_boundary(10)
        && matches!(text.as_bytes()[10], b' ' | b'T')
        && is_date(&text[..10])
        && is_time(&text[11..])
}

/// Digits only, as a number.
fn number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_frappe() {
        assert_eq!(email_problem("ann@example.com"), None);
        assert_eq!(email_problem("Ann Lee <ann@example.com>"), None);
        assert_eq!(email_problem("a@x.io, b.c+d@mail.x.org\ne@f.gh"), None);
        assert_eq!(email_problem("\"Lee, Ann\" <ann@example.com>"), None);
        assert!(email_problem("ann@localhost").is_some());
        assert!(email_problem("ann@example.com bob@example.com").is_some());
        assert!(email_problem("ann.example.com").is_some());
        assert!(email_problem("ann@-x.com").is_some());
        assert!(email_problem("ann@example.com!!").is_some());
        assert!(email_problem(" , ").is_some());
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert_eq!(url_problem("https://example.com"), None);
        assert_eq!(url_problem("http://user@host:8080/p?q#f"), None);
        assert_eq!(url_problem("ftp://[::1]/x"), None);
        assert!(url_problem("example.com").is_some());
        assert!(url_problem("https://").is_some());
        assert!(url_problem("//example.com").is_some());
        assert!(url_problem("1http://x.com").is_some());
    }

    #[test]
    fn phones_and_names_follow_frappe() {
        assert!(is_phone("+49 (30) 123-456"));
        assert!(!is_phone("call me"));
        assert!(!is_phone("123456789012345678901"));
        assert!(is_person_name("Anne-Marie O'Neil"));
        assert!(is_person_name("José 2"));
        assert!(!is_person_name("Ann  Lee"));
        assert!(!is_person_name("<b>Ann</b>"));
    }

    #[test]
    fn content_ignores_markup_and_whitespace() {
        assert!(!has_content("  \t", false));
        assert!(!has_content("<p><br></p>", true));
        assert!(!has_content("<div></div>&nbsp; \u{a0}", true));
        assert!(has_content("<p><img src=\"x.png\"></p>", true));
        assert!(!has_content("<img src=\"x.png\">", false));
        assert!(has_content("<p>hi</p>", true));
        assert!(has_content("a < b", false));
    }

    #[test]
    fn temporal_formats_follow_frappe() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2024-02-30"));
        assert!(!is_date("29/02/2024"));
        assert!(!is_date("+02024-0101"));
        assert!(is_datetime("2024-02-29 13:45:00"));
        assert!(is_datetime("2024-02-29 13:45:00.123456"));
        assert!(!is_datetime("2024-02-29 13:45:00.1234567"));
        assert!(!is_datetime("2024-02-29"));
        assert!(!is_datetime("2024-02-30 10:00:00"));
        assert!(is_time("13:45"));
        assert!(is_time("9:05:10"));
        assert!(is_time("13:45:10.5"));
        assert!(!is_time("25:00"));
        assert!(!is_time("13:5"));
        assert!(!is_time("13:45.5"));
        assert!(!is_time("13:60:00"));
    }
}
