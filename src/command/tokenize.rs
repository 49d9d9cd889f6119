//! Splits command text into words. Quotes group words (`"Azure AD"`, `'Azure AD'`), and
//! the typographic quotes that chat clients substitute while typing count as quotes too.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    #[error("Unclosed quote: add the closing {0}.")]
    Unclosed(char),
}

/// The closing quote for an opening one, if the character opens a quote.
fn closing(c: char) -> Option<char> {
    match c {
        '"' => Some('"'),
        '\'' => Some('\''),
        '“' | '„' => Some('”'),
        '‘' => Some('’'),
        '«' => Some('»'),
        _ => None,
    }
}

/// Whether `c` may close a quote opened with `open`. Clients are not consistent in which
/// curly quote they produce, so either curly form closes a curly quote.
fn closes(open: char, c: char) -> bool {
    match open {
        '“' | '„' => matches!(c, '”' | '“'),
        '‘' => matches!(c, '’' | '‘'),
        other => closing(other) == Some(c),
    }
}

pub fn tokenize(text: &str) -> Result<Vec<String>, TokenizeError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(open) => {
                if closes(open, c) {
                    quote = None;
                } else {
                    current.push(c);
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                // A quote opens only at the start of a word or after another quoted part,
                // so an apostrophe inside a name (O'Brien) stays a letter.
                if closing(c).is_some()
                    && (current.is_empty() || !current.ends_with(char::is_alphanumeric))
                {
                    quote = Some(c);
                } else {
                    current.push(c);
                }
            }
        }
    }
    if let Some(open) = quote {
        return Err(TokenizeError::Unclosed(closing(open).unwrap_or(open)));
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  status   okta ", &["status", "okta"]),
            ("status \"Azure AD\"", &["status", "Azure AD"]),
            ("status “Azure AD”", &["status", "Azure AD"]),
            ("status „Azure AD“", &["status", "Azure AD"]),
            (
                "user okta 'Jürgen Müller'",
                &["user", "okta", "Jürgen Müller"],
            ),
            ("user okta o'brien", &["user", "okta", "o'brien"]),
            ("user okta \"\"", &["user", "okta", ""]),
            ("a\tb\nc", &["a", "b", "c"]),
        ];
        for (text, expected) in cases {
            assert_eq!(tokenize(text).unwrap(), *expected, "{text:?}");
        }
    }

    #[test]
    fn an_unclosed_quote_is_an_error() {
        assert_eq!(
            tokenize("status \"Azure"),
            Err(TokenizeError::Unclosed('"'))
        );
        assert_eq!(tokenize("status “Azure"), Err(TokenizeError::Unclosed('”')));
    }
}
