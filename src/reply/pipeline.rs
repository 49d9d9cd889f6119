//! What the pipeline itself says, whatever the command: re-deliveries, deferred answers
//! and a task that died.

use crate::message::{Message, Tone};

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
