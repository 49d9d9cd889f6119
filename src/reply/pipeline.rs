//! What the pipeline itself says, whatever the command: re-deliveries, deferred answers
//! and a task that died.

use crate::message::{Message, Text, Tone};

/// A re-delivered request whose first answer is still on its way.
pub fn already_received() -> Message {
    Message::new(Tone::Info, "Already received")
        .text("This request arrived before; it runs once, and its answer is on its way.")
}

/// A re-delivered request that changes something and ran before (even before a restart).
pub fn already_done() -> Message {
    Message::new(Tone::Info, "Already done")
        .text("This request was received before and has run once; it does not run again.")
}

/// A re-delivered request that changes something whose first run was cut off (the bot
/// stopped) before it answered: not run again, and not claimed to have run.
pub fn cut_off(received_at: chrono::DateTime<chrono::Utc>, slash: &str) -> Message {
    Message::new(Tone::Warning, "Cut off before it answered").text(
        Text::new()
            .plain(format!(
                "This request arrived before, at {}, and the bot stopped while it ran. It does not run again, \
                 and whether it took effect is not known here: ",
                received_at.format("%H:%M:%S UTC")
            ))
            .code(format!("{slash} jobs"))
            .plain(" shows a run or user update that was made; ")
            .code(format!("{slash} history <connector>"))
            .plain(" a change."),
    )
}

/// The acknowledgement sent when the answer misses the inline budget.
pub fn working_on_it() -> Message {
    Message::new(Tone::Info, "Working on it…")
        .text("The product is taking a moment; the answer follows here.")
}

/// The command's task ended without an answer (a bug; it is logged).
pub fn went_wrong() -> Message {
    Message::new(Tone::Failure, "Something went wrong")
        .text("The command stopped unexpectedly; it has been logged.")
}
