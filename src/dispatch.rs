//! The pipeline every command goes through, whatever the platform:
//! parse → authorize → handle → audit. Platform adapters only verify before it and render
//! after it.

use crate::app::{App, Metrics};
use crate::command;
use crate::domain::Invocation;
use crate::handlers::{self, Handled};
use crate::message::Message;
use crate::store::{AuditEntry, Decision};

/// Runs one verified invocation to its reply, and audits it.
pub async fn dispatch(app: &App, inv: &Invocation) -> Message {
    Metrics::incr(&app.metrics.commands);
    let (decision, handled) = match command::parse(&inv.text) {
        Err(e) => {
            Metrics::incr(&app.metrics.invalid);
            let message = handlers::invalid(inv, &e);
            (
                Decision::Invalid,
                Handled {
                    message,
                    outcome: format!("invalid: {}", e.problem),
                },
            )
        }
        Ok(command) => {
            let kind = command.kind();
            match app.config.roles.authorize(kind, &inv.user, &inv.channel) {
                Err(denial) => {
                    Metrics::incr(&app.metrics.denied);
                    tracing::info!(user = %inv.user, channel = %inv.channel, command = kind.name(), ?denial, "command denied");
                    (
                        Decision::Denied,
                        Handled {
                            message: handlers::denied(inv, kind, &denial),
                            outcome: format!("denied: {denial:?}"),
                        },
                    )
                }
                Ok(role) => (
                    Decision::Allowed,
                    handlers::handle(app, inv, role, command).await,
                ),
            }
        }
    };
    app.audit.record(AuditEntry {
        at: chrono::Utc::now(),
        platform: inv.platform,
        user_id: inv.user.id.clone(),
        channel_id: inv.channel.id.clone(),
        command_text: inv.command_line(),
        decision,
        outcome: handled.outcome,
    });
    handled.message
}
