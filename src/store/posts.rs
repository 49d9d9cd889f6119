//! Posts made exactly once, as stored: the intent before the post, the post after it.

use chrono::{DateTime, Utc};

use crate::domain::Platform;

/// One post to make once: its delivery id (also the tag the post carries), where it goes,
/// and whether it can be looked for by its tag there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostIntent<'a> {
    pub id: &'a str,
    pub platform: Platform,
    pub channel_id: &'a str,
    pub findable: bool,
}

/// What the store knew of a post when its intent was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostMark {
    /// Never tried: the intent is recorded now.
    New,
    /// Tried before (since `since`), and not recorded as made: the process died, or the
    /// post failed, in between. `findable` as it was recorded then.
    InFlight {
        since: DateTime<Utc>,
        findable: bool,
    },
    /// Made.
    Posted,
}
