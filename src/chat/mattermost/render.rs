//! Renders the neutral [`Message`] the Mattermost way: Markdown `text`, and a message
//! attachment with colour and short fields for the labelled values. All text is escaped:
//! no argument can become a mention (`@channel`, `@all`, `@here`, `@someone`), a channel
//! link, a link or markup.

use serde_json::{json, Value};

use crate::message::{
    Block, Button, ButtonStyle, Message, Span, Text, Tone, TypedForm, Visibility,
};

/// Mattermost's limit for a post's text (16,383 characters), with room to spare.
const MAX_TEXT: usize = 16_000;
/// Lines of a list shown before "… and N more".
const MAX_LIST_ITEMS: usize = 100;

/// A zero-width space: placed after `@` and inside `://`, it keeps the text readable
/// while no mention or autolink can form.
const ZWSP: char = '\u{200B}';

/// Escapes text for Mattermost Markdown.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for c in text.chars() {
        match c {
            // Inline markup, links (`[`), HTML and tables: escaped wherever they stand.
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            // Headings, lists and quotes only mean something at the start of a line.
            '#' | '-' | '+' | '=' if line_start => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                out.push(ZWSP);
            }
            c => out.push(c),
        }
        line_start = c == '\n' || (line_start && c == ' ');
    }
    defuse_links(&out)
}

/// Breaks what Mattermost would turn into a link by itself.
fn defuse_links(text: &str) -> String {
    text.replace("://", &format!(":{ZWSP}//"))
        .replace("www.", &format!("www{ZWSP}."))
}

/// Text inside a code block or the attachment fallback: backslashes are literal there, so
/// only the backtick and what could still notify or link are neutralised.
fn code(text: &str) -> String {
    defuse_links(
        &text
            .replace('`', "ˋ")
            .replace('@', &format!("@{ZWSP}"))
            .replace("](", &format!("]{ZWSP}(")),
    )
}

/// Text inside an inline code span: as in [`code`], and a zero-width space after a `<`
/// that could start an autolink (`<https://…>`, `<mailto:…>`) or a Slack-style mention
/// (`<!channel>`, `<@U…>`), because CommonMark lets an autolink win over a code span.
fn inline_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(c);
        if c == '<' && opens_link(&text[i + 1..]) {
            out.push(ZWSP);
        }
    }
    code(&out)
}

/// Whether the text after a `<` starts like `!`, `@` or a URI scheme and its colon.
fn opens_link(rest: &str) -> bool {
    let scheme = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"+.-".contains(b))
        .count();
    rest.starts_with(['!', '@'])
        || (rest.starts_with(|c: char| c.is_ascii_alphabetic()) && rest[scheme..].starts_with(':'))
}

/// Splits a span's text into the whitespace before it, the text itself, and the
/// whitespace after it. Line breaks inside the text become spaces: an emphasised span is
/// inline, and a blank line inside would end the paragraph before the closing marker.
fn tight(t: &str) -> (&str, String, &str) {
    let start = t.len() - t.trim_start().len();
    let (lead, rest) = t.split_at(start);
    let body = rest.trim_end();
    let trail = &rest[body.len()..];
    let body = body
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect();
    (lead, body, trail)
}

/// Adjacent spans of the same kind read as one: `**a****b**` would not render.
fn merged(spans: impl IntoIterator<Item = Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for span in spans {
        match (out.last_mut(), &span) {
            (Some(Span::Plain(a)), Span::Plain(b))
            | (Some(Span::Strong(a)), Span::Strong(b))
            | (Some(Span::Em(a)), Span::Em(b))
            | (Some(Span::Code(a)), Span::Code(b)) => a.push_str(b),
            _ => out.push(span),
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Strong,
    Em,
    Code,
}

/// One rendered piece of a text.
enum Piece {
    Plain(String),
    /// An emphasised span's text, escaped for its kind, without markers yet; `plain` is
    /// the same text escaped as plain text, for when no marker could render.
    Marked {
        kind: Kind,
        body: String,
        plain: String,
    },
}

impl Piece {
    /// The first and last characters this piece puts in the text, as far as neighbours
    /// see them (markers count as punctuation).
    fn first(&self) -> Option<char> {
        match self {
            Piece::Plain(t) => t.chars().next(),
            Piece::Marked {
                kind: Kind::Code, ..
            } => Some('`'),
            Piece::Marked { .. } => Some('*'),
        }
    }
}

/// A span as pieces: the whitespace around its text goes outside the markers. A span of
/// only whitespace is plain text; an empty span is nothing.
fn pieces(span: &Span, out: &mut Vec<Piece>) {
    let (kind, t) = match span {
        Span::Plain(t) => {
            out.push(Piece::Plain(escape(t)));
            return;
        }
        Span::Strong(t) => (Kind::Strong, t),
        Span::Em(t) => (Kind::Em, t),
        Span::Code(t) => (Kind::Code, t),
    };
    let (lead, body, trail) = tight(t);
    if body.is_empty() {
        out.push(Piece::Plain(escape(t)));
        return;
    }
    out.push(Piece::Plain(lead.to_string()));
    out.push(Piece::Marked {
        kind,
        body: match kind {
            Kind::Code => inline_code(&body),
            Kind::Strong | Kind::Em => escape(&body),
        },
        plain: escape(&body),
    });
    out.push(Piece::Plain(trail.to_string()));
}

/// Whether a character next to a delimiter lets it open or close emphasis under
/// CommonMark's flanking rules: whitespace, the start or end of the text, or punctuation.
/// Only punctuation known for sure counts; anything else is taken as part of a word.
fn sets_off(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || c.is_ascii_punctuation() || "—–…·•‹›«»“”‘’".contains(c))
}

fn markdown(text: &Text) -> String {
    let mut list = Vec::new();
    for span in merged(text.0.iter().cloned()) {
        pieces(&span, &mut list);
    }
    list.retain(|p| !matches!(p, Piece::Plain(t) if t.is_empty()));
    let mut out = String::new();
    // Whether `out` ends with an asterisk marker, which another would lengthen.
    let mut after_star = false;
    for (i, piece) in list.iter().enumerate() {
        let follows_star = std::mem::take(&mut after_star);
        let (kind, body, plain) = match piece {
            Piece::Plain(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Marked { kind, body, plain } => (*kind, body, plain),
        };
        if kind == Kind::Code {
            // Code spans have no flanking rules: they render wherever they stand.
            out.push('`');
            out.push_str(body);
            out.push('`');
            continue;
        }
        // CommonMark's flanking rules: `_` never opens or closes inside a word, and `*`
        // does only where the text inside starts (or ends) with a letter or digit. So a
        // span glued to a word on the outside is written with `*` (`in*Okta*s`), and
        // where even that cannot render (`in**(Okta)**`) the span is plain text rather
        // than showing its markers.
        let glued_left = !sets_off(out.chars().next_back());
        let glued_right = !sets_off(list.get(i + 1).and_then(Piece::first));
        let word_left = body.chars().next().is_some_and(char::is_alphanumeric);
        let word_right = body.chars().next_back().is_some_and(char::is_alphanumeric);
        let marker = if !glued_left && !glued_right {
            match kind {
                Kind::Strong => "**",
                _ => "_",
            }
        } else if (!glued_left || word_left) && (!glued_right || word_right) {
            match kind {
                Kind::Strong => "**",
                _ => "*",
            }
        } else {
            out.push_str(plain);
            continue;
        };
        if follows_star && marker.starts_with('*') {
            out.push_str(plain);
            continue;
        }
        out.push_str(marker);
        out.push_str(body);
        out.push_str(marker);
        after_star = marker.starts_with('*');
    }
    // Once more over the joined text: a URL whose parts stood in neighbouring spans
    // (`http:` + `//evil.example`) is whole only now.
    defuse_links(&out)
}

/// Small print: the whole text in italics, as emphasised spans so that each keeps its
/// markers tight (code and bold parts keep their own look).
fn small_print(text: &Text) -> String {
    let spans = text.0.iter().cloned().map(|span| match span {
        Span::Plain(t) => Span::Em(t),
        other => other,
    });
    markdown(&Text(merged(spans)))
}

fn colour(tone: Tone) -> &'static str {
    match tone {
        Tone::Info => "#1c58d9",
        Tone::Success => "#2eb886",
        Tone::Warning => "#e9a820",
        Tone::Failure => "#d24b4e",
    }
}

fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The Markdown text and the attachment fields of a message.
fn render_parts(message: &Message) -> (String, Vec<Value>) {
    let mut text = format!("#### {} {}\n", message.tone.emoji(), escape(&message.title));
    let mut fields = Vec::new();
    for block in &message.blocks {
        match block {
            Block::Text(t) => {
                text.push_str(&markdown(t));
                text.push('\n');
            }
            Block::Fields(list) => {
                for (label, value) in list {
                    fields.push(json!({
                        "title": inline_code(label),
                        "value": markdown(value),
                        "short": true,
                    }));
                }
            }
            Block::List { items, more } => {
                for item in items.iter().take(MAX_LIST_ITEMS) {
                    text.push_str(&format!("- {}\n", markdown(item)));
                }
                let left = more + items.len().saturating_sub(MAX_LIST_ITEMS);
                if left > 0 {
                    text.push_str(&format!("… and {left} more\n"));
                }
            }
            Block::Code(body) => {
                text.push_str(&format!("```\n{}\n```\n", code(body)));
            }
            Block::Context(t) => {
                text.push_str(&small_print(t));
                text.push('\n');
            }
            Block::Divider => text.push_str("\n---\n"),
            // Buttons go in the attachment (see `attachments`).
            Block::Actions { .. } => {}
        }
    }
    (cut(text, MAX_TEXT), fields)
}

/// A message button. Its `id` is letters only (Mattermost routes nothing else); the
/// `context` with the bot's token is kept from clients by the server and comes back with
/// the click.
fn action(button: &Button, url: &str) -> Value {
    json!({
        "id": button.action.as_str(),
        "type": "button",
        "name": cut(button.label.clone(), 60),
        "style": match button.style {
            ButtonStyle::Danger => "danger",
            ButtonStyle::Default => "default",
        },
        "integration": {
            "url": url,
            "context": {"action": button.action.as_str(), "token": button.token},
        },
    })
}

fn actions(message: &Message) -> Vec<Value> {
    message
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Actions {
                buttons,
                callback_url: Some(url),
            } => Some(buttons.iter().map(|b| action(b, url))),
            _ => None,
        })
        .flatten()
        .collect()
}

fn attachments(message: &Message, fields: Vec<Value>) -> Value {
    let actions = actions(message);
    if fields.is_empty() && actions.is_empty() {
        return json!([]);
    }
    let mut attachment = json!({
        "color": colour(message.tone),
        "fallback": code(&cut(message.to_plain(), 300)),
        "fields": fields,
    });
    if !actions.is_empty() {
        attachment["actions"] = Value::Array(actions);
    }
    json!([attachment])
}

/// The JSON body of a slash-command reply or a `response_url` follow-up. Slack-style
/// parsing is skipped so that `<!channel>` in an argument stays text.
pub fn render_response(message: &Message) -> Value {
    let (text, fields) = render_parts(message);
    json!({
        "response_type": match message.visibility {
            Visibility::Ephemeral => "ephemeral",
            Visibility::InChannel => "in_channel",
        },
        "text": text,
        "attachments": attachments(message, fields),
        "skip_slack_parsing": true,
    })
}

/// The `callback_id` of the bot's typed-confirmation dialog and its one field's `name`
/// (what `errors` is keyed by).
pub const FORM_CALLBACK: &str = "usersynctyped";
pub const FORM_FIELD: &str = "typed";

/// An interactive dialog (`POST /api/v4/actions/dialogs/open`) asking for one value. Its
/// `state` comes back with the submission, which Mattermost does not sign.
pub fn dialog(form: &TypedForm) -> Value {
    json!({
        "callback_id": FORM_CALLBACK,
        "title": cut(form.title.clone(), 24),
        "introduction_text": escape(&form.text),
        "elements": [{
            "display_name": cut(form.label.clone(), 24),
            "name": FORM_FIELD,
            "type": "text",
            "max_length": 150,
        }],
        "submit_label": cut(form.submit.clone(), 24),
        "notify_on_cancel": false,
        "state": form.state,
    })
}

/// The `message` and `props` of a post made through the REST API.
pub fn render_post(message: &Message) -> (String, Value) {
    let (text, fields) = render_parts(message);
    (text, json!({ "attachments": attachments(message, fields) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn nobody_can_mention_or_link_through_an_argument() {
        for hostile in [
            "@channel",
            "@all",
            "@here",
            "@alice",
            "~town-square",
            "[click](https://evil.example)",
            "https://evil.example",
            "<https://evil.example|x>",
            "<!channel>",
            "www.evil.example",
        ] {
            let m = Message::new(Tone::Info, hostile)
                .text(
                    Text::new()
                        .plain(hostile)
                        .strong(hostile)
                        .code(hostile)
                        .em(hostile),
                )
                .push(Block::Fields(vec![(
                    "f".into(),
                    Text::new().plain(hostile),
                )]))
                .push(Block::List {
                    items: vec![Text::new().plain(hostile)],
                    more: 0,
                })
                .push(Block::Code(hostile.into()));
            let rendered = render_response(&m);
            // An escaped bracket (`\]`) cannot close a link; drop those before looking.
            let text = all_text(&rendered).replace("\\\\]", "");
            for forbidden in [
                "@channel", "@all", "@here", "@alice", "](https", "https://", "www.evil",
            ] {
                assert!(
                    !text.contains(forbidden),
                    "{forbidden} survived {hostile}: {text}"
                );
            }
            assert_eq!(rendered["skip_slack_parsing"], true);
        }
    }

    #[test]
    fn fields_become_a_coloured_attachment_and_text_is_markdown() {
        let m = Message::new(Tone::Failure, "Sync of Okta failed")
            .text(Text::new().strong("Result: ").plain("ERROR"))
            .push(Block::Fields(vec![("Added".into(), Text::from("3"))]))
            .in_channel();
        let r = render_response(&m);
        assert_eq!(r["response_type"], "in_channel");
        assert!(r["text"]
            .as_str()
            .unwrap()
            .starts_with("#### ❌ Sync of Okta failed\n**Result:** ERROR"));
        assert_eq!(r["attachments"][0]["color"], "#d24b4e");
        assert_eq!(
            r["attachments"][0]["fields"][0],
            json!({"title": "Added", "value": "3", "short": true})
        );
    }

    #[test]
    fn the_jobs_line_keeps_its_emphasis_markers_tight() {
        let line = Text::new()
            .strong("Okta")
            .plain(" (jira) — ")
            .plain("sync 93")
            .plain(" — by @alice since 2025-03-01 09:00 UTC — ")
            .plain("✅ DONE: 18 users (0 added, 2 updated, 1 deleted, 2 failed)")
            .plain(" — done")
            .em(" — outcome not delivered: refused: scheme ftp is not allowed");
        assert_eq!(
            markdown(&line),
            "**Okta** (jira) — sync 93 — by @\u{200B}alice since 2025-03-01 09:00 UTC — ✅ DONE: \
             18 users (0 added, 2 updated, 1 deleted, 2 failed) — done \
             _— outcome not delivered: refused: scheme ftp is not allowed_"
        );
    }

    #[test]
    fn spaces_move_outside_the_markers_of_every_span_kind() {
        let t = Text::new()
            .plain("a")
            .strong(" Result: ")
            .plain("ERROR")
            .em(" note ")
            .code("  x y ")
            .plain(".");
        assert_eq!(markdown(&t), "a **Result:** ERROR _note_   `x y` .");
        let blank = Text::new()
            .plain("(")
            .strong("  ")
            .em("")
            .code(" ")
            .plain(")");
        assert_eq!(markdown(&blank), "(   )", "blank spans are plain text");
        assert_eq!(markdown(&Text::new().em("one\n\ntwo")), "_one  two_");
    }

    #[test]
    fn a_span_glued_to_a_word_uses_markers_that_render_there_or_none() {
        let t = Text::new()
            .plain("in")
            .em("Okta")
            .plain("s")
            .code("x")
            .plain("y");
        assert_eq!(
            markdown(&t),
            "in*Okta*s`x`y",
            "`_` never renders inside a word"
        );
        let t = Text::new()
            .plain("in")
            .strong("(Okta)")
            .plain(" and ")
            .strong("b")
            .em("c");
        assert_eq!(
            markdown(&t),
            "in(Okta) and **b**_c_",
            "cannot render: plain"
        );
        let t = Text::new().plain("x").em("a").strong("b");
        assert_eq!(markdown(&t), "x*a*b", "no run of three asterisks");
    }

    #[test]
    fn small_print_is_italic_span_by_span() {
        let m = Message::new(Tone::Info, "t").context(
            Text::new()
                .plain("Check it later with ")
                .code("/usersync status okta")
                .plain(" "),
        );
        let (text, _) = render_parts(&m);
        assert_eq!(
            text,
            "#### ℹ️ t\n_Check it later with_ `/usersync status okta` \n"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text with more than its share of the characters that matter to Markdown.
        fn tricky() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                any::<char>().prop_map(String::from),
                Just(" ".to_string()),
                Just("\n".to_string()),
                Just("\u{A0}".to_string()),
                Just("\\".to_string()),
                Just("*".to_string()),
                Just("**".to_string()),
                Just("_".to_string()),
                Just("`".to_string()),
                Just("<".to_string()),
                Just("&".to_string()),
                Just("@".to_string()),
                Just("@channel".to_string()),
                Just("@here".to_string()),
                Just("@all".to_string()),
                Just("[x](https://evil.example)".to_string()),
                Just("<https://evil.example>".to_string()),
                Just("<!channel>".to_string()),
                Just("<mailto:a@b.example>".to_string()),
                Just("<connector>".to_string()),
                Just("www.evil.example".to_string()),
                proptest::collection::vec(proptest::char::range('a', 'z'), 1..4)
                    .prop_map(String::from_iter),
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
        }

        /// The characters of rendered Markdown that are not backslash-escaped, with their
        /// byte offsets.
        fn unescaped(rendered: &str) -> Vec<(usize, char)> {
            let mut out = Vec::new();
            let mut chars = rendered.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '\\' && chars.peek().is_some_and(|(_, n)| n.is_ascii_punctuation()) {
                    chars.next();
                    continue;
                }
                out.push((i, c));
            }
            out
        }

        fn no_live_markup(rendered: &str, code: bool) {
            for mention in ["@channel", "@here", "@all", "://", "www."] {
                assert!(!rendered.contains(mention), "{mention} in {rendered:?}");
            }
            // In a code span backslashes are literal: every character counts there.
            let live: Vec<char> = if code {
                rendered.chars().collect()
            } else {
                unescaped(rendered).into_iter().map(|(_, c)| c).collect()
            };
            let live: String = live.into_iter().collect();
            let links: &[&str] = if code {
                &["<!", "<@", "<http", "<mailto", "]("]
            } else {
                &["<!", "<@", "<http", "<", "](", "["]
            };
            for link in links {
                assert!(!live.contains(link), "{link} in {rendered:?}");
            }
        }

        /// Plain text next to a span: no markers of its own.
        fn neighbour() -> impl Strategy<Value = String> {
            proptest::collection::vec(
                prop_oneof![
                    Just(' '),
                    Just('('),
                    Just(')'),
                    Just('—'),
                    Just('.'),
                    proptest::char::range('a', 'z'),
                    proptest::char::range('0', '9'),
                    Just('é'),
                ],
                0..4,
            )
            .prop_map(String::from_iter)
        }

        proptest! {
            #[test]
            fn emphasis_among_words_renders_or_is_plain(
                strong in any::<bool>(),
                text in tricky(),
                before in neighbour(),
                after in neighbour(),
            ) {
                let span = if strong { Span::Strong(text) } else { Span::Em(text) };
                let rendered = markdown(&Text(vec![
                    Span::Plain(before.clone()),
                    span,
                    Span::Plain(after.clone()),
                ]));
                no_live_markup(&rendered, false);
                let live: Vec<(usize, char)> = unescaped(&rendered)
                    .into_iter()
                    .filter(|&(_, c)| c == '*' || c == '_')
                    .collect();
                if live.is_empty() {
                    return Ok(());
                }
                let width = if strong { 2 } else { 1 };
                prop_assert_eq!(live.len(), 2 * width, "{:?}", rendered);
                let marker = live[0].1;
                prop_assert!(live.iter().all(|&(_, c)| c == marker), "{:?}", rendered);
                let (open, close) = (live[width - 1].0 + 1, live[width].0);
                let outside_open = rendered[..live[0].0].chars().next_back();
                let inside_open = rendered[open..].chars().next();
                let inside_close = rendered[..close].chars().next_back();
                let outside_close = rendered[live[2 * width - 1].0 + 1..].chars().next();
                prop_assert!(inside_open.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                prop_assert!(inside_close.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                // CommonMark's flanking rules, for the characters the neighbours hold.
                let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
                if word(outside_open) || word(outside_close) {
                    prop_assert_eq!(marker, '*', "{:?}", rendered);
                }
                if word(outside_open) {
                    prop_assert!(word(inside_open), "{:?}", rendered);
                }
                if word(outside_close) {
                    prop_assert!(word(inside_close), "{:?}", rendered);
                }
            }

            #[test]
            fn every_span_renders_well_formed(kind in 0..3usize, text in tricky()) {
                let (span, marker, code) = match kind {
                    0 => (Span::Strong(text.clone()), '*', false),
                    1 => (Span::Em(text.clone()), '_', false),
                    _ => (Span::Code(text.clone()), '`', true),
                };
                let rendered = markdown(&Text(vec![span]));
                no_live_markup(&rendered, code);
                let markers: Vec<usize> = if code {
                    rendered.match_indices('`').map(|(i, _)| i).collect()
                } else {
                    unescaped(&rendered)
                        .into_iter()
                        .filter(|&(_, c)| c == marker)
                        .map(|(i, _)| i)
                        .collect()
                };
                if text.trim().is_empty() {
                    prop_assert!(markers.is_empty(), "{:?}", rendered);
                    prop_assert_eq!(rendered, text);
                    return Ok(());
                }
                // Strong is `**`: two markers of two asterisks each.
                let width = if kind == 0 { 2 } else { 1 };
                prop_assert_eq!(markers.len(), 2 * width, "{:?}", rendered);
                let open = markers[width - 1] + 1;
                let close = markers[width];
                if width == 2 {
                    prop_assert_eq!(markers[0] + 1, markers[1], "{:?}", rendered);
                    prop_assert_eq!(markers[2] + 1, markers[3], "{:?}", rendered);
                }
                let after_open = rendered[open..].chars().next();
                let before_close = rendered[..close].chars().next_back();
                prop_assert!(after_open.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                prop_assert!(before_close.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                let lead = &rendered[..markers[0]];
                let trail = &rendered[markers[2 * width - 1] + 1..];
                prop_assert!(lead.chars().all(char::is_whitespace), "{:?}", rendered);
                prop_assert!(trail.chars().all(char::is_whitespace), "{:?}", rendered);
                // No other asterisk run can lengthen or pair with the markers.
                let stars = unescaped(&rendered).into_iter().filter(|&(_, c)| c == '*').count();
                prop_assert_eq!(stars, if kind == 0 { 4 } else if code { stars } else { 0 });
            }
        }
    }
}
