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
                // so an apostrophe inside a name (O'Brien) stays a letter; and not inside
                // JSON (after `[`, `{`, `,` or `:`), so that `groups=["a","b"]` keeps its
                // quotes.
                if closing(c).is_some()
                    && (current.is_empty()
                        || !current.ends_with(|p: char| p.is_alphanumeric() || "[{,:".contains(p)))
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
            (
                r#"set okta groups=["a","b"] m={"k":"v"} name="Azure AD""#,
                &[
                    "set",
                    "okta",
                    r#"groups=["a","b"]"#,
                    r#"m={"k":"v"}"#,
                    "name=Azure AD",
                ],
            ),
            ("status jira/\"Azure AD\"", &["status", "jira/Azure AD"]),
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

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::Config;

        fn config(cases: u32) -> Config {
            Config {
                cases,
                failure_persistence: None,
                ..Config::default()
            }
        }

        /// Command text with more than its share of what the tokenizer looks at.
        fn hostile() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                any::<char>().prop_map(String::from),
                prop::sample::select(vec![
                    " ",
                    "  ",
                    "\t",
                    "\n",
                    "\u{A0}",
                    "\u{3000}",
                    "\"",
                    "'",
                    "“",
                    "”",
                    "„",
                    "‘",
                    "’",
                    "«",
                    "»",
                    "--",
                    "-",
                    "=",
                    "--flag=value",
                    "o'brien",
                    "run",
                    "\"\"",
                ])
                .prop_map(String::from),
                "[a-zA-Z0-9]{1,5}",
            ];
            prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
        }

        /// A word written so that the tokenizer gives it back: in a quote it does not
        /// contain, if there is one.
        fn quoted(word: &str) -> Option<String> {
            let has = |cs: &[char]| cs.iter().any(|c| word.contains(*c));
            let (open, close) = if !has(&['"']) {
                ('"', '"')
            } else if !has(&['\'']) {
                ('\'', '\'')
            } else if !has(&['“', '”']) {
                ('“', '”')
            } else if !has(&['‘', '’']) {
                ('‘', '’')
            } else if !has(&['»']) {
                ('«', '»')
            } else {
                return None;
            };
            Some(format!("{open}{word}{close}"))
        }

        proptest! {
            #![proptest_config(config(1000))]

            #[test]
            fn the_tokenizer_never_panics_and_its_words_hold_no_unquoted_space(text in hostile()) {
                if let Ok(words) = tokenize(&text) {
                    // Only a quote can put whitespace into a word, and a word comes from
                    // the text: there are never more words than characters.
                    prop_assert!(words.len() <= text.chars().count());
                    if !text.contains(|c| closing(c).is_some()) {
                        let plain: Vec<&str> = text.split_whitespace().collect();
                        prop_assert_eq!(words, plain);
                    }
                }
            }

            #[test]
            fn any_words_each_in_a_quote_it_lacks_tokenize_back_to_themselves(
                words in prop::collection::vec(any::<String>(), 0..6),
                gaps in prop::collection::vec(prop::sample::select(vec![" ", "\t", "\n ", "\u{3000}"]), 6),
            ) {
                let mut text = String::new();
                for (word, gap) in words.iter().zip(&gaps) {
                    let Some(q) = quoted(word) else { return Ok(()) };
                    text.push_str(gap);
                    text.push_str(&q);
                }
                prop_assert_eq!(tokenize(&text), Ok(words));
            }
        }

        proptest! {
            #![proptest_config(config(16))]

            #[test]
            fn a_very_long_text_tokenizes_without_panicking(
                text in hostile(),
                times in 500..2000usize,
            ) {
                let _ = tokenize(&text.repeat(times));
            }
        }
    }
}
