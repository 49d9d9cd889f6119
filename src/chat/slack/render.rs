//! Renders the neutral [`Message`] as Slack Block Kit with a plain-text fallback, within
//! Slack's limits, escaping every piece of text.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{json, Value};

use crate::message::{
    Block, Button, ButtonAction, ButtonStyle, Message, Span, Text, TypedForm, Visibility,
};

/// Slack's limits (docs.slack.dev, Block Kit reference).
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_FIELD_TEXT: usize = 2000;
const MAX_FIELDS: usize = 10;
const MAX_HEADER_TEXT: usize = 150;
const MAX_CONTEXT_TEXT: usize = 2000;
/// The fallback `text` Slack recommends staying under.
const MAX_FALLBACK_TEXT: usize = 3000;
/// Button and confirmation dialog limits (Block Kit button element, confirm object).
const MAX_BUTTON_TEXT: usize = 75;
const MAX_BUTTON_VALUE: usize = 2000;
const MAX_DIALOG_TITLE: usize = 100;
const MAX_DIALOG_TEXT: usize = 300;
const MAX_DIALOG_BUTTON: usize = 30;

/// The `action_id` of a button: what `block_actions` carries back.
pub fn action_id(action: ButtonAction) -> &'static str {
    match action {
        ButtonAction::Confirm => "usersync_confirm",
        ButtonAction::Cancel => "usersync_cancel",
    }
}

/// The action an `action_id` names, if it is one of the bot's.
pub fn action_of(action_id: &str) -> Option<ButtonAction> {
    [ButtonAction::Confirm, ButtonAction::Cancel]
        .into_iter()
        .find(|a| action_id == self::action_id(*a))
}

/// Escapes the three characters Slack's mrkdwn gives meaning to, so that user text cannot
/// become a mention (`<!channel>`, `<@U…>`) or a link (`<https://…|…>`).
pub fn escape(text: &str) -> String {
    escape_owned(text.to_owned())
}

/// [`escape`] of a string the caller gives up: returned as it is when nothing needs it.
fn escape_owned(text: String) -> String {
    if !text.contains(['&', '<', '>']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    push_escaped(&mut out, &text);
    out
}

/// Characters that would end or start emphasis are replaced by look-alikes inside
/// emphasised spans, so user text cannot break out of them.
fn look_alike(marker: char) -> char {
    match marker {
        '*' => '∗',
        '_' => '‗',
        '`' => 'ˋ',
        _ => marker,
    }
}

/// A zero-width space: put between an emphasis marker and a letter or digit next to it.
const ZWSP: char = '\u{200B}';

/// Line breaks inside an emphasised span become spaces: the span is inline, and Slack's
/// emphasis does not reach across lines.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Appends `text` escaped ([`escape`]), without an intermediate string.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// Builds mrkdwn in one string, one pass over the spans (measured: the pieces, `format!`
/// and `replace` calls this replaced were a large part of rendering a reply).
///
/// Slack only renders emphasis whose markers are not glued to a word on the outside:
/// `in*Okta*` or `*Okta*s` show the asterisks. Where a span touches a letter or digit, a
/// zero-width space goes between, which Slack takes as a boundary and a reader does not
/// see, so the emphasis renders and the words read as written.
struct Mrkdwn {
    out: String,
    /// The last thing written was a closing marker: a letter or digit next gets a ZWSP.
    after_marker: bool,
}

impl Mrkdwn {
    /// Plain text, escaped (nothing if empty).
    fn plain(&mut self, t: &str) {
        let Some(first) = t.chars().next() else {
            return;
        };
        if std::mem::take(&mut self.after_marker) && first.is_alphanumeric() {
            self.out.push(ZWSP);
        }
        push_escaped(&mut self.out, t);
    }

    /// An emphasised span: markers tight around the text, the whitespace around it
    /// outside. A span of only whitespace is plain text; an empty span is nothing.
    fn marked(&mut self, marker: char, t: &str) {
        let body = t.trim();
        if body.is_empty() {
            return self.plain(t);
        }
        let start = t.len() - t.trim_start().len();
        self.plain(&t[..start]);
        self.after_marker = false;
        if self
            .out
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
        {
            self.out.push(ZWSP);
        }
        let replacement = look_alike(marker);
        self.out.push(marker);
        for c in body.chars() {
            match c {
                c if c == marker => self.out.push(replacement),
                c if is_line_break(c) => self.out.push(' '),
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                c => self.out.push(c),
            }
        }
        self.out.push(marker);
        self.after_marker = true;
        self.plain(&t[start + body.len()..]);
    }

    /// The spans of a text, in order.
    fn spans(&mut self, spans: &[Span]) {
        let mut i = 0;
        while i < spans.len() {
            let marker = marker_of(&spans[i]);
            // Adjacent spans of the same kind read as one: `*a**b*` would not render.
            let mut j = i + 1;
            while j < spans.len() && marker_of(&spans[j]) == marker {
                j += 1;
            }
            let run: Cow<'_, str> = if j == i + 1 {
                Cow::Borrowed(spans[i].text())
            } else {
                Cow::Owned(spans[i..j].iter().map(Span::text).collect())
            };
            match marker {
                None => self.plain(&run),
                Some(marker) => self.marked(marker, &run),
            }
            i = j;
        }
    }
}

/// The emphasis marker of a span's kind (`None` for plain text).
fn marker_of(span: &Span) -> Option<char> {
    match span {
        Span::Plain(_) => None,
        Span::Strong(_) => Some('*'),
        Span::Em(_) => Some('_'),
        Span::Code(_) => Some('`'),
    }
}

fn mrkdwn(text: &Text) -> String {
    let mut m = Mrkdwn {
        out: String::with_capacity(text.0.iter().map(|s| s.text().len()).sum::<usize>() + 8),
        after_marker: false,
    };
    m.spans(&text.0);
    m.out
}

/// Cuts text to at most `max` characters, marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    cut_owned(text.to_owned(), max)
}

/// [`cut`] of a string the caller gives up: returned as it is when it fits.
fn cut_owned(text: String, max: usize) -> String {
    // No more bytes than `max` is no more characters either: the common case is not counted.
    if text.len() <= max || text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text for a `plain_text` object, which Slack does not unescape: angle brackets become
/// look-alikes instead, so that it can never read as a mention.
fn no_angles(text: &str) -> String {
    if !text.contains(['<', '>']) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            c => c,
        })
        .collect()
}

/// Block Kit, as typed values serialized straight to JSON: an immediate reply is written
/// without building a `serde_json::Value` tree (measured: the tree's allocations were a
/// large part of a command's cost under load).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlackBlock {
    Header {
        text: PlainText,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<TextObject>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<TextObject>,
    },
    Context {
        elements: Vec<TextObject>,
    },
    Divider,
    Actions {
        elements: Vec<SlackButton>,
    },
}

/// A Block Kit button element.
#[derive(Debug, Serialize)]
pub struct SlackButton {
    #[serde(rename = "type")]
    kind: &'static str,
    action_id: &'static str,
    text: PlainText,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<SlackConfirm>,
}

/// A Block Kit confirmation dialog object.
#[derive(Debug, Serialize)]
pub struct SlackConfirm {
    title: PlainText,
    text: TextObject,
    confirm: PlainText,
    deny: PlainText,
    style: &'static str,
}

fn plain(text: &str, max: usize) -> PlainText {
    PlainText {
        kind: "plain_text",
        text: cut_owned(no_angles(text), max),
        emoji: true,
    }
}

fn button(b: &Button) -> SlackButton {
    SlackButton {
        kind: "button",
        action_id: action_id(b.action),
        text: plain(&b.label, MAX_BUTTON_TEXT),
        value: cut(&b.token, MAX_BUTTON_VALUE),
        style: match b.style {
            ButtonStyle::Danger => Some("danger"),
            ButtonStyle::Default => None,
        },
        confirm: b.confirm.as_ref().map(|d| SlackConfirm {
            title: plain(&d.title, MAX_DIALOG_TITLE),
            text: verbatim(escape(&d.text), MAX_DIALOG_TEXT),
            confirm: plain(&d.confirm, MAX_DIALOG_BUTTON),
            deny: plain(&d.deny, MAX_DIALOG_BUTTON),
            style: "danger",
        }),
    }
}

#[derive(Debug, Serialize)]
pub struct PlainText {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    emoji: bool,
}

#[derive(Debug, Serialize)]
pub struct TextObject {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    verbatim: Option<bool>,
}

/// mrkdwn text that Slack shows as written (no auto-linking of names or URLs).
fn verbatim(text: String, max: usize) -> TextObject {
    TextObject {
        kind: "mrkdwn",
        text: cut_owned(text, max),
        verbatim: Some(true),
    }
}

fn section(text: String) -> SlackBlock {
    SlackBlock::Section {
        text: Some(verbatim(text, MAX_SECTION_TEXT)),
        fields: Vec::new(),
    }
}

fn is_empty(block: &Block) -> bool {
    match block {
        Block::Text(t) | Block::Context(t) => t.is_empty(),
        Block::Fields(f) => f.is_empty(),
        Block::List { items, more } => items.is_empty() && *more == 0,
        Block::Code(c) => c.trim().is_empty(),
        Block::Divider => false,
        Block::Actions { buttons, .. } => buttons.is_empty(),
    }
}

fn list_text(items: &[Text], more: usize) -> String {
    // Items go in as many lines as fit one section; the rest are counted.
    let mut text = String::new();
    let mut left = more;
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
    text.trim_end().to_string()
}

/// A field: its label in bold, a line break, its value; in one string.
fn field_text(label: &str, value: &Text) -> String {
    let size = label.len() + value.0.iter().map(|s| s.text().len()).sum::<usize>() + 8;
    let mut m = Mrkdwn {
        out: String::with_capacity(size),
        after_marker: false,
    };
    m.marked('*', label);
    m.out.push('\n');
    // The value starts a line of its own: nothing before it is glued to it.
    m.after_marker = false;
    m.spans(&value.0);
    m.out
}

fn field_sections(fields: &[(String, Text)]) -> impl Iterator<Item = SlackBlock> + '_ {
    fields.chunks(MAX_FIELDS).map(|chunk| SlackBlock::Section {
        text: None,
        fields: chunk
            .iter()
            .map(|(label, value)| verbatim(field_text(label, value), MAX_FIELD_TEXT))
            .collect(),
    })
}

fn blocks_of(block: &Block, out: &mut Vec<SlackBlock>) {
    // Slack rejects a whole message for one empty text: empty blocks are left out.
    if is_empty(block) {
        return;
    }
    match block {
        Block::Text(t) => out.push(section(mrkdwn(t))),
        Block::Fields(fields) => out.extend(field_sections(fields)),
        Block::List { items, more } => out.push(section(list_text(items, *more))),
        Block::Code(code) => {
            let body = cut(&code.replace("```", "ˋˋˋ"), MAX_SECTION_TEXT - 8);
            out.push(section(format!("```{}```", escape(&body))));
        }
        Block::Context(t) => out.push(SlackBlock::Context {
            elements: vec![verbatim(mrkdwn(t), MAX_CONTEXT_TEXT)],
        }),
        Block::Divider => out.push(SlackBlock::Divider),
        // Buttons are added last, after any cut, so that a long prompt keeps them.
        Block::Actions { .. } => {}
    }
}

/// The `callback_id` of the bot's typed-confirmation modal; the input's `block_id`
/// (what `response_action: errors` is keyed by) and `action_id`.
pub const FORM_CALLBACK: &str = "usersync_typed";
pub const FORM_BLOCK: &str = "typed";
pub const FORM_ACTION: &str = "value";
/// Modal limits: title and submit 24 characters, `private_metadata` 3000.
const MAX_MODAL_TITLE: usize = 24;
const MAX_PRIVATE_METADATA: usize = 3000;

/// A modal view (`views.open`) asking for one typed value.
pub fn modal(form: &TypedForm) -> Value {
    json!({
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": plain(&form.title, MAX_MODAL_TITLE),
        "submit": plain(&form.submit, MAX_MODAL_TITLE),
        "close": plain("Cancel", MAX_MODAL_TITLE),
        "private_metadata": cut(&form.state, MAX_PRIVATE_METADATA),
        "blocks": [
            {"type": "section", "text": verbatim(escape(&form.text), MAX_SECTION_TEXT)},
            {
                "type": "input",
                "block_id": FORM_BLOCK,
                "label": plain(&form.label, 2000),
                "element": {"type": "plain_text_input", "action_id": FORM_ACTION},
            },
        ],
    })
}

/// The blocks and fallback text of a message, typed.
pub fn blocks(message: &Message) -> (Vec<SlackBlock>, String) {
    // Header text is plain_text, which Slack does not unescape: angle brackets are
    // swapped for look-alikes instead, so a title can never read as a mention.
    let header = cut_owned(
        format!("{} {}", message.tone.emoji(), no_angles(&message.title)),
        MAX_HEADER_TEXT,
    );
    let mut out = vec![SlackBlock::Header {
        text: PlainText {
            kind: "plain_text",
            text: header,
            emoji: true,
        },
    }];
    for block in &message.blocks {
        blocks_of(block, &mut out);
    }
    if out.len() > MAX_BLOCKS {
        let dropped = out.len() - (MAX_BLOCKS - 1);
        out.truncate(MAX_BLOCKS - 1);
        out.push(SlackBlock::Context {
            elements: vec![TextObject {
                kind: "mrkdwn",
                text: format!("… and {dropped} more parts not shown"),
                verbatim: None,
            }],
        });
    }
    let actions: Vec<SlackBlock> = message
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Actions { buttons, .. } if !buttons.is_empty() => Some(SlackBlock::Actions {
                elements: buttons.iter().map(button).collect(),
            }),
            _ => None,
        })
        .collect();
    if !actions.is_empty() && out.len() + actions.len() > MAX_BLOCKS {
        out.truncate(MAX_BLOCKS.saturating_sub(actions.len() + 1));
        out.push(SlackBlock::Context {
            elements: vec![TextObject {
                kind: "mrkdwn",
                text: "… more parts not shown".into(),
                verbatim: None,
            }],
        });
    }
    out.extend(actions);
    let fallback = cut_owned(escape_owned(message.to_plain()), MAX_FALLBACK_TEXT);
    (out, fallback)
}

/// The blocks and fallback text of a message, as JSON values.
pub fn render_blocks(message: &Message) -> (Vec<Value>, String) {
    let (blocks, text) = blocks(message);
    let values = blocks
        .iter()
        .map(|b| serde_json::to_value(b).unwrap_or(Value::Null))
        .collect();
    (values, text)
}

/// The body of a reply or follow-up through `response_url`.
#[derive(Debug, Serialize)]
pub struct ResponseBody {
    response_type: &'static str,
    text: String,
    blocks: Vec<SlackBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replace_original: Option<bool>,
}

/// The body of an immediate reply to a slash command (`replace`: for follow-ups only).
pub fn response_body(message: &Message, replace: Option<bool>) -> ResponseBody {
    let (blocks, text) = blocks(message);
    ResponseBody {
        response_type: match message.visibility {
            Visibility::Ephemeral => "ephemeral",
            Visibility::InChannel => "in_channel",
        },
        text,
        blocks,
        replace_original: replace,
    }
}

/// The JSON body of an immediate reply to a slash command.
pub fn render_response(message: &Message) -> Value {
    serde_json::to_value(response_body(message, None)).unwrap_or(Value::Null)
}

/// The JSON body of a `chat.postMessage` or `chat.update` (channel added by the caller).
pub fn render_message(message: &Message) -> Value {
    let (blocks, text) = render_blocks(message);
    json!({"text": text, "blocks": blocks})
}

/// The JSON body of a follow-up through `response_url`: a new message, never a
/// replacement of an earlier one.
pub fn render_followup(message: &Message) -> Value {
    serde_json::to_value(response_body(message, Some(false))).unwrap_or(Value::Null)
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

    /// The `jobs` line of a sync whose outcome could not be delivered.
    fn undelivered_job_line() -> Text {
        Text::new()
            .strong("Okta")
            .plain(" (jira) — ")
            .plain("sync 93")
            .plain(" — by @alice since 2025-03-01 09:00 UTC — ")
            .plain("✅ DONE: 18 users (0 added, 2 updated, 1 deleted, 2 failed)")
            .plain(" — done")
            .em(" — outcome not delivered: refused: scheme ftp is not allowed")
    }

    #[test]
    fn the_jobs_line_keeps_its_emphasis_markers_tight() {
        assert_eq!(
            mrkdwn(&undelivered_job_line()),
            "*Okta* (jira) — sync 93 — by @alice since 2025-03-01 09:00 UTC — ✅ DONE: 18 users \
             (0 added, 2 updated, 1 deleted, 2 failed) — done \
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
        assert_eq!(mrkdwn(&t), "a *Result:* ERROR _note_   `x y` .");
        let blank = Text::new()
            .plain("[")
            .strong("  ")
            .em("")
            .code(" ")
            .plain("]");
        assert_eq!(mrkdwn(&blank), "[   ]", "blank spans are plain text");
        let lines = Text::new().em("one\ntwo\n");
        assert_eq!(mrkdwn(&lines), "_one two_\n", "emphasis stays on one line");
    }

    #[test]
    fn a_span_glued_to_a_word_is_set_off_by_a_zero_width_space() {
        let t = Text::new()
            .plain("in")
            .strong("Okta")
            .plain("s, ")
            .code("x")
            .plain("!");
        assert_eq!(mrkdwn(&t), "in\u{200B}*Okta*\u{200B}s, `x`!");
        let t = Text::new().strong("a").strong(" b").em("c");
        assert_eq!(mrkdwn(&t), "*a b*_c_", "same-kind neighbours merge");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Text with more than its share of the characters that matter to mrkdwn.
        fn tricky() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                any::<char>().prop_map(String::from),
                Just(" ".to_string()),
                Just("\n".to_string()),
                Just("\u{A0}".to_string()),
                Just("*".to_string()),
                Just("_".to_string()),
                Just("`".to_string()),
                Just("~".to_string()),
                Just("<".to_string()),
                Just(">".to_string()),
                Just("&".to_string()),
                Just("@".to_string()),
                Just("<!channel>".to_string()),
                Just("<@U123>".to_string()),
                Just("<https://evil.example|x>".to_string()),
                proptest::collection::vec(proptest::char::range('a', 'z'), 1..4)
                    .prop_map(String::from_iter),
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
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

        fn span(kind: usize, text: String) -> (Span, char) {
            match kind {
                0 => (Span::Strong(text), '*'),
                1 => (Span::Em(text), '_'),
                _ => (Span::Code(text), '`'),
            }
        }

        fn no_live_markup(rendered: &str) {
            for live in ["<!", "<@", "<http", "<"] {
                assert!(!rendered.contains(live), "{live} in {rendered:?}");
            }
        }

        proptest! {
            #[test]
            fn every_span_renders_well_formed(kind in 0..3usize, text in tricky()) {
                let (span, marker) = span(kind, text.clone());
                let rendered = mrkdwn(&Text(vec![span]));
                no_live_markup(&rendered);
                let markers: Vec<usize> = rendered.match_indices(marker).map(|(i, _)| i).collect();
                if text.trim().is_empty() {
                    prop_assert!(markers.is_empty(), "{rendered:?}");
                    prop_assert_eq!(rendered, text);
                } else {
                    prop_assert_eq!(markers.len(), 2, "{:?}", rendered);
                    let after_open = rendered[markers[0] + 1..].chars().next();
                    let before_close = rendered[..markers[1]].chars().next_back();
                    prop_assert!(after_open.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                    prop_assert!(before_close.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                    let (lead, trail) = (&rendered[..markers[0]], &rendered[markers[1] + 1..]);
                    prop_assert!(lead.chars().all(char::is_whitespace), "{:?}", rendered);
                    prop_assert!(trail.chars().all(char::is_whitespace), "{:?}", rendered);
                }
            }

            #[test]
            fn a_span_among_words_renders_well_formed(
                kind in 0..3usize,
                text in tricky(),
                before in neighbour(),
                after in neighbour(),
            ) {
                let (span, marker) = span(kind, text.clone());
                let rendered = mrkdwn(&Text(vec![
                    Span::Plain(before.clone()),
                    span,
                    Span::Plain(after.clone()),
                ]));
                no_live_markup(&rendered);
                let markers: Vec<usize> = rendered.match_indices(marker).map(|(i, _)| i).collect();
                if text.trim().is_empty() {
                    prop_assert!(markers.is_empty(), "{:?}", rendered);
                } else {
                    prop_assert_eq!(markers.len(), 2, "{:?}", rendered);
                    let outside_open = rendered[..markers[0]].chars().next_back();
                    let after_open = rendered[markers[0] + 1..].chars().next();
                    let before_close = rendered[..markers[1]].chars().next_back();
                    let outside_close = rendered[markers[1] + 1..].chars().next();
                    prop_assert!(after_open.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                    prop_assert!(before_close.is_some_and(|c| !c.is_whitespace()), "{:?}", rendered);
                    prop_assert!(!outside_open.is_some_and(char::is_alphanumeric), "{:?}", rendered);
                    prop_assert!(!outside_close.is_some_and(char::is_alphanumeric), "{:?}", rendered);
                }
                let shown: String = rendered.chars().filter(|&c| c != ZWSP).collect();
                prop_assert!(shown.starts_with(before.as_str()) && shown.ends_with(after.as_str()));
            }
        }
    }
}
