//! Renders the neutral [`Message`] the Mattermost way: Markdown `text`, and a message
//! attachment with colour and short fields for the labelled values. All text is escaped:
//! no argument can become a mention (`@channel`, `@all`, `@here`, `@someone`), a channel
//! link, a link or markup.

use serde_json::{json, Value};

use crate::message::{Block, Message, Span, Text, Tone, Visibility};

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

/// Text inside an inline code span: backslashes are literal there, so only the backtick
/// and what could still notify or link are neutralised.
fn code(text: &str) -> String {
    defuse_links(
        &text
            .replace('`', "ˋ")
            .replace('@', &format!("@{ZWSP}"))
            .replace("](", &format!("]{ZWSP}(")),
    )
}

fn markdown(text: &Text) -> String {
    text.0
        .iter()
        .map(|span| match span {
            Span::Plain(t) => escape(t),
            Span::Strong(t) if !t.is_empty() => format!("**{}**", escape(t)),
            Span::Em(t) if !t.is_empty() => format!("_{}_", escape(t)),
            Span::Code(t) if !t.is_empty() => format!("`{}`", code(t)),
            _ => String::new(),
        })
        .collect()
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
                        "title": label,
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
                text.push_str(&format!("_{}_\n", markdown(t)));
            }
            Block::Divider => text.push_str("\n---\n"),
        }
    }
    (cut(text, MAX_TEXT), fields)
}

fn attachments(message: &Message, fields: Vec<Value>) -> Value {
    if fields.is_empty() {
        return json!([]);
    }
    json!([{
        "color": colour(message.tone),
        "fallback": code(&cut(message.to_plain(), 300)),
        "fields": fields,
    }])
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
            .starts_with("#### ❌ Sync of Okta failed\n**Result: **ERROR"));
        assert_eq!(r["attachments"][0]["color"], "#d24b4e");
        assert_eq!(
            r["attachments"][0]["fields"][0],
            json!({"title": "Added", "value": "3", "short": true})
        );
    }
}
