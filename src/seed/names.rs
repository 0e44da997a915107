//! Names: folding display names into the ASCII of domains and email addresses.

/// Legal-form suffixes left out of domain prefixes.
pub(super) const LEGAL_FORMS: &[&str] = &[
    " Sp. z o.o.",
    " GmbH",
    " B.V.",
    " e.K.",
    " Inc.",
    " LLC",
    " Ltd",
    " SAS",
    " AB",
    " AS",
    " SL",
];

/// Lower-case ASCII letters and digits of `text`, with common Latin letters transliterated
/// (`ü` → `ue`, `ß` → `ss`, `é` → `e`, `ł` → `l`, ...) and everything else dropped.
pub(super) fn ascii_fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let replacement = match c {
            'a'..='z' | '0'..='9' => {
                out.push(c);
                continue;
            }
            'ä' | 'æ' => "ae",
            'ö' | 'œ' => "oe",
            'ü' => "ue",
            'ß' => "ss",
            'à' | 'á' | 'â' | 'ã' | 'å' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ø' => "o",
            'ś' | 'š' => "s",
            'ù' | 'ú' | 'û' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(replacement);
    }
    out
}

/// The `<prefix>` of an organization's `<prefix>.onmicrosoft.com` domain (also the name of its
/// `<prefix>.example` mail domain): its name without the legal form, folded to lower-case
/// alphanumerics. `Müller Maschinenbau GmbH` → `muellermaschinenbau`.
pub(super) fn domain_prefix(organization_name: &str) -> String {
    let name = LEGAL_FORMS
        .iter()
        .find_map(|form| organization_name.strip_suffix(form))
        .unwrap_or(organization_name);
    ascii_fold(name)
}

/// `firstname.lastname` for a display name: `Jürgen Weiß` → `juergen.weiss`,
/// `Daan van Dijk` → `daan.vandijk`.
pub(super) fn email_local_part(display_name: &str) -> String {
    let mut words = display_name.split_whitespace();
    let first = words.next().map(ascii_fold).unwrap_or_default();
    let last: String = words.map(ascii_fold).collect();
    if last.is_empty() {
        first
    } else {
        format!("{first}.{last}")
    }
}
