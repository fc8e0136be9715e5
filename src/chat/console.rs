//! The console adapter: when no chat platform is configured, prompts and notices are written to the log,
//! and approvers answer through the HTTP API. `signoff serve` on the bundled example shows the whole flow
//! this way on a fresh machine.

use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};

/// Logs instead of chatting.
#[derive(Debug, Default, Clone)]
pub struct ConsoleAdapter;

impl ChatAdapter for ConsoleAdapter {
    fn platform(&self) -> Platform {
        Platform::Console
    }

    fn send_prompt<'a>(
        &'a self,
        to: &'a ChatUser,
        p: &'a PromptMessage,
        _mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            let for_whom = p.beneficiary.as_deref().map(|b| format!(" for {b}")).unwrap_or_default();
            let role = p.role.as_deref().map(|r| format!(" (role {r})")).unwrap_or_default();
            tracing::info!(
                target: "signoff::console",
                approver = %to.id,
                token = %p.token,
                step = p.step.as_deref().unwrap_or(""),
                "approval needed: {} asks for {}{role}{for_whom}; {}",
                p.requester,
                p.resource,
                p.progress,
            );
            Ok(MessageRef { platform: Platform::Console, channel: to.id.clone(), message: p.token.clone() })
        })
    }

    fn close_prompt<'a>(&'a self, m: &'a MessageRef, c: &'a PromptClosing) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            tracing::info!(target: "signoff::console", approver = %m.channel, token = %m.message, "prompt closed: {}", c.headline);
            Ok(())
        })
    }

    fn notify<'a>(
        &'a self,
        to: &'a ChatUser,
        n: &'a Notification,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            tracing::info!(target: "signoff::console", to = %to.id, "{}: {}", n.title, n.body);
            Ok(MessageRef { platform: Platform::Console, channel: to.id.clone(), message: mark.key.clone() })
        })
    }

    /// A line in the log is written once or not at all: there is never a copy to find.
    fn find_copies<'a>(
        &'a self,
        _to: &'a ChatUser,
        _mark: &'a Mark,
    ) -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn delete_message<'a>(&'a self, _m: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async { Ok(()) })
    }
}
