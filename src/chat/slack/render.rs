//! Renders the neutral [`Message`] as Slack Block Kit with a plain-text fallback, within
//! Slack's limits, escaping every piece of text.

use serde_json::{json, Value};

use crate::message::{Block, Message, Span, Text, Visibility};

/// Slack's limits (docs.slack.dev, Block Kit reference).
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_FIELD_TEXT: usize = 2000;
const MAX_FIELDS: usize = 10;
const MAX_HEADER_TEXT: usize = 150;
const MAX_CONTEXT_TEXT: usize = 2000;
/// The fallback `text` Slack recommends staying under.
const MAX_FALLBACK_TEXT: usize = 3000;

/// Escapes the three characters Slack's mrkdwn gives meaning to, so that user text cannot
/// become a mention (`<!channel>`, `<@U…>`) or a link (`<https://…|…>`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters that would end or start emphasis are replaced by look-alikes inside
/// emphasised spans, so user text cannot break out of them.
fn neutralise(text: &str, marker: char) -> String {
    let replacement = match marker {
        '*' => '∗',
        '_' => '‗',
        '`' => 'ˋ',
        _ => marker,
    };
    escape(&text.replace(marker, &replacement.to_string()))
}

fn mrkdwn(text: &Text) -> String {
    text.0
        .iter()
        .map(|span| match span {
            Span::Plain(t) => escape(t),
            Span::Strong(t) if !t.is_empty() => format!("*{}*", neutralise(t, '*')),
            Span::Em(t) if !t.is_empty() => format!("_{}_", neutralise(t, '_')),
            Span::Code(t) if !t.is_empty() => format!("`{}`", neutralise(t, '`')),
            _ => String::new(),
        })
        .collect()
}

/// Cuts text to at most `max` characters, marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, MAX_SECTION_TEXT), "verbatim": true}})
}

fn blocks_of(block: &Block) -> Vec<Value> {
    // Slack rejects a whole message for one empty text: empty blocks are left out.
    let empty = match block {
        Block::Text(t) | Block::Context(t) => t.is_empty(),
        Block::Fields(f) => f.is_empty(),
        Block::List { items, more } => items.is_empty() && *more == 0,
        Block::Code(c) => c.trim().is_empty(),
        Block::Divider => false,
    };
    if empty {
        return Vec::new();
    }
    match block {
        Block::Text(t) => vec![section(mrkdwn(t))],
        Block::Fields(fields) => fields
            .chunks(MAX_FIELDS)
            .map(|chunk| {
                let items: Vec<Value> = chunk
                    .iter()
                    .map(|(label, value)| {
                        let text = format!("*{}*\n{}", neutralise(label, '*'), mrkdwn(value));
                        json!({"type": "mrkdwn", "text": cut(&text, MAX_FIELD_TEXT), "verbatim": true})
                    })
                    .collect();
                json!({"type": "section", "fields": items})
            })
            .collect(),
        Block::List { items, more } => {
            // Items go in as many lines as fit one section; the rest are counted.
            let mut text = String::new();
            let mut left = *more;
            for (i, item) in items.iter().enumerate() {
                let line = format!("• {}\n", mrkdwn(item));
                if text.len() + line.len() > MAX_SECTION_TEXT - 40 {
                    left += items.len() - i;
                    break;
                }
                text.push_str(&line);
            }
            if left > 0 {
                text.push_str(&format!("… and {left} more"));
            }
            vec![section(text.trim_end().to_string())]
        }
        Block::Code(code) => {
            let body = cut(&code.replace("```", "ˋˋˋ"), MAX_SECTION_TEXT - 8);
            vec![section(format!("```{}```", escape(&body)))]
        }
        Block::Context(t) => vec![json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": cut(&mrkdwn(t), MAX_CONTEXT_TEXT), "verbatim": true}]
        })],
        Block::Divider => vec![json!({"type": "divider"})],
    }
}

/// The blocks and fallback text of a message.
pub fn render_blocks(message: &Message) -> (Vec<Value>, String) {
    // Header text is plain_text, which Slack does not unescape: angle brackets are
    // swapped for look-alikes instead, so a title can never read as a mention.
    let title = message.title.replace('<', "‹").replace('>', "›");
    let header = cut(
        &format!("{} {}", message.tone.emoji(), title),
        MAX_HEADER_TEXT,
    );
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": header, "emoji": true}
    })];
    for block in &message.blocks {
        blocks.extend(blocks_of(block));
    }
    if blocks.len() > MAX_BLOCKS {
        let dropped = blocks.len() - (MAX_BLOCKS - 1);
        blocks.truncate(MAX_BLOCKS - 1);
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("… and {dropped} more parts not shown")}]
        }));
    }
    let fallback = cut(&escape(&message.to_plain()), MAX_FALLBACK_TEXT);
    (blocks, fallback)
}

/// The JSON body of an immediate reply to a slash command.
pub fn render_response(message: &Message) -> Value {
    let (blocks, text) = render_blocks(message);
    json!({
        "response_type": match message.visibility {
            Visibility::Ephemeral => "ephemeral",
            Visibility::InChannel => "in_channel",
        },
        "text": text,
        "blocks": blocks,
    })
}

/// The JSON body of a `chat.postMessage` or `chat.update` (channel added by the caller).
pub fn render_message(message: &Message) -> Value {
    let (blocks, text) = render_blocks(message);
    json!({"text": text, "blocks": blocks})
}

/// The JSON body of a follow-up through `response_url`: a new message, never a
/// replacement of an earlier one.
pub fn render_followup(message: &Message) -> Value {
    let mut body = render_response(message);
    body["replace_original"] = json!(false);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Tone;

    #[test]
    fn user_text_cannot_mention_or_link() {
        let hostile = "<!channel> <@U123> <https://evil.example|click> & more";
        let m = Message::new(Tone::Info, hostile)
            .text(Text::new().plain(hostile).strong(hostile).code(hostile))
            .push(Block::Code(hostile.into()))
            .push(Block::Fields(vec![(
                "name".into(),
                Text::new().plain(hostile),
            )]))
            .push(Block::List {
                items: vec![Text::new().em(hostile)],
                more: 0,
            });
        let rendered = render_response(&m).to_string();
        assert!(!rendered.contains("<!channel>"), "{rendered}");
        assert!(!rendered.contains("<@U123>"));
        assert!(!rendered.contains("<https://"));
        assert!(rendered.contains("&lt;!channel&gt;"));
    }

    #[test]
    fn emphasis_cannot_be_broken_out_of() {
        let m = Message::new(Tone::Info, "t").text(Text::new().code("a`b").strong("x*y"));
        let blocks = render_blocks(&m).0;
        assert_eq!(blocks[1]["text"]["text"], "`aˋb`*x∗y*");
    }

    #[test]
    fn long_lists_and_many_fields_stay_within_limits() {
        let items: Vec<Text> = (0..500)
            .map(|i| Text::new().plain(format!("user number {i} with a long name")))
            .collect();
        let fields: Vec<(String, Text)> = (0..25)
            .map(|i| (format!("f{i}"), Text::from("v")))
            .collect();
        let m = Message::new(Tone::Info, "x".repeat(400))
            .push(Block::List { items, more: 7 })
            .push(Block::Fields(fields));
        let (blocks, fallback) = render_blocks(&m);
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_TEXT);
        let list = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(list.chars().count() <= MAX_SECTION_TEXT);
        assert!(list.ends_with("more"), "{list}");
        let shown = list.lines().filter(|l| l.starts_with('•')).count();
        assert!(list.ends_with(&format!("… and {} more", 500 - shown + 7)));
        assert_eq!(
            blocks.len(),
            1 + 1 + 3,
            "25 fields make three sections of at most 10"
        );
        assert!(fallback.chars().count() <= MAX_FALLBACK_TEXT);
    }

    #[test]
    fn empty_blocks_are_left_out_and_text_is_verbatim() {
        let m = Message::new(Tone::Info, "t")
            .text("")
            .push(Block::List {
                items: vec![],
                more: 0,
            })
            .push(Block::Code(" ".into()))
            .text("https://example.com stays text");
        let (blocks, _) = render_blocks(&m);
        assert_eq!(blocks.len(), 2, "{blocks:?}");
        assert_eq!(blocks[1]["text"]["verbatim"], true);
    }

    #[test]
    fn too_many_blocks_are_cut_with_a_note() {
        let mut m = Message::new(Tone::Info, "t");
        for i in 0..80 {
            m = m.text(format!("p{i}"));
        }
        let (blocks, _) = render_blocks(&m);
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(
            blocks[MAX_BLOCKS - 1]["elements"][0]["text"],
            "… and 32 more parts not shown"
        );
    }
}
