//! The neutral message model: what a reply says, decided once for every platform. Each
//! chat platform's renderer decides how it looks.
//!
//! Text is made of spans whose content is always literal: renderers escape every span, so
//! no text from a user or from the product can become a mention, a link or markup.

/// Who sees a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only the person who typed the command.
    Ephemeral,
    /// Everyone in the channel.
    InChannel,
}

/// The overall sense of a message, shown as an emoji or a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Info,
    Success,
    Warning,
    Failure,
}

impl Tone {
    pub fn emoji(self) -> &'static str {
        match self {
            Tone::Info => "ℹ️",
            Tone::Success => "✅",
            Tone::Warning => "⚠️",
            Tone::Failure => "❌",
        }
    }
}

/// One piece of text with its emphasis. The text is literal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Span {
    Plain(String),
    Strong(String),
    Code(String),
    Em(String),
}

impl Span {
    pub fn text(&self) -> &str {
        match self {
            Span::Plain(t) | Span::Strong(t) | Span::Code(t) | Span::Em(t) => t,
        }
    }
}

/// A run of spans.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Text(pub Vec<Span>);

impl Text {
    pub fn new() -> Self {
        Text(Vec::new())
    }

    pub fn plain(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Plain(s.into()));
        self
    }

    pub fn strong(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Strong(s.into()));
        self
    }

    pub fn code(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Code(s.into()));
        self
    }

    pub fn em(mut self, s: impl Into<String>) -> Self {
        self.0.push(Span::Em(s.into()));
        self
    }

    /// The text without any emphasis.
    pub fn to_plain(&self) -> String {
        self.0.iter().map(Span::text).collect()
    }

    /// Appends the text without any emphasis to `out`.
    pub fn push_plain(&self, out: &mut String) {
        for span in &self.0 {
            out.push_str(span.text());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|s| s.text().is_empty())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::new().plain(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::new().plain(s)
    }
}

/// A part of a message, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Block {
    /// A paragraph.
    Text(Text),
    /// Short labelled values, shown side by side where the platform can.
    Fields(Vec<(String, Text)>),
    /// A bulleted list; `more` counts the items left out.
    List {
        items: Vec<Text>,
        more: usize,
    },
    /// Preformatted lines (settings, messages), shown as they are.
    Code(String),
    /// Small print under the message.
    Context(Text),
    Divider,
    /// Buttons. `callback_url` is where a platform that needs one (Mattermost) sends the
    /// click; Slack sends every click to the app's one Interactivity Request URL.
    Actions {
        buttons: Vec<Button>,
        callback_url: Option<String>,
    },
}

/// What a button does. Each platform names it in its own way (Slack `action_id`,
/// Mattermost action `id`, letters and digits only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    Confirm,
    Cancel,
}

impl ButtonAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonAction::Confirm => "confirm",
            ButtonAction::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<ButtonAction> {
        match s {
            "confirm" => Some(ButtonAction::Confirm),
            "cancel" => Some(ButtonAction::Cancel),
            _ => None,
        }
    }
}

/// How a button looks: `Danger` for what changes or removes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    Danger,
    Default,
}

/// A dialog the client shows before it sends the click (Slack's `confirm`): a speed bump,
/// not the authorization, which the bot checks itself when the click arrives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfirmDialog {
    pub title: String,
    pub text: String,
    pub confirm: String,
    pub deny: String,
}

/// One button. `token` comes back with the click: the bot's MAC over what it is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    pub action: ButtonAction,
    pub label: String,
    pub style: ButtonStyle,
    pub token: String,
    pub confirm: Option<ConfirmDialog>,
}

/// A reply or notification, independent of the platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub visibility: Visibility,
    pub tone: Tone,
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Message {
    pub fn new(tone: Tone, title: impl Into<String>) -> Self {
        Message {
            visibility: Visibility::Ephemeral,
            tone,
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn in_channel(mut self) -> Self {
        self.visibility = Visibility::InChannel;
        self
    }

    pub fn push(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }

    pub fn text(self, text: impl Into<Text>) -> Self {
        self.push(Block::Text(text.into()))
    }

    pub fn context(self, text: impl Into<Text>) -> Self {
        self.push(Block::Context(text.into()))
    }

    /// The whole message as plain text, one block a line: for logs, audit and the
    /// terminal.
    pub fn to_plain(&self) -> String {
        // Written straight into one string: this runs for every reply (the fallback text).
        let mut out = String::with_capacity(256);
        out.push_str(self.tone.emoji());
        out.push(' ');
        out.push_str(&self.title);
        for block in &self.blocks {
            out.push('\n');
            match block {
                Block::Text(t) | Block::Context(t) => t.push_plain(&mut out),
                Block::Fields(fields) => {
                    for (i, (label, value)) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push_str(" · ");
                        }
                        out.push_str(label);
                        out.push_str(": ");
                        value.push_plain(&mut out);
                    }
                }
                Block::List { items, more } => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push('\n');
                        }
                        out.push_str("• ");
                        item.push_plain(&mut out);
                    }
                    if *more > 0 {
                        out.push_str(&format!("\n… and {more} more"));
                    }
                }
                Block::Code(code) => out.push_str(code),
                Block::Divider => out.push('—'),
                Block::Actions { buttons, .. } => {
                    for (i, b) in buttons.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        out.push('[');
                        out.push_str(&b.label);
                        out.push(']');
                    }
                }
            }
        }
        out
    }
}

/// A form that asks the person to type something before an operation goes ahead (a
/// Slack modal, a Mattermost interactive dialog), opened from a click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedForm {
    pub title: String,
    /// What the form explains above the field.
    pub text: String,
    /// The field's label.
    pub label: String,
    pub submit: String,
    /// Comes back with the submission: the bot's token for the operation, and where the
    /// answer goes (kept by the platform, not shown).
    pub state: String,
    /// Where Mattermost sends the submission.
    pub callback_url: Option<String>,
}
