//! An adapter that records every call, for tests and demos. It can be told to fail the next calls, to
//! exercise retries.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, Mark, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A prompt was sent.
    Prompt(ChatUser, PromptMessage),
    /// A prompt was closed.
    Close(MessageRef, PromptClosing),
    /// A notification was sent.
    Notify(ChatUser, Notification),
}

/// Records calls; answers as the platform it pretends to be.
#[derive(Debug, Clone)]
pub struct MemoryAdapter {
    platform: Platform,
    calls: Arc<Mutex<Vec<Call>>>,
    failures: Arc<Mutex<VecDeque<ChatError>>>,
    /// Every message sent, with its mark, for [`ChatAdapter::find_copies`].
    sent: Arc<Mutex<Vec<(ChatUser, Mark, MessageRef)>>>,
}

impl MemoryAdapter {
    /// A recorder pretending to be `platform`.
    pub fn new(platform: Platform) -> MemoryAdapter {
        MemoryAdapter { platform, calls: Arc::default(), failures: Arc::default(), sent: Arc::default() }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The next calls fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ChatError>) {
        if let Ok(mut f) = self.failures.lock() {
            f.extend(errors);
        }
    }

    fn remember(&self, to: &ChatUser, mark: &Mark, m: &MessageRef) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((to.clone(), mark.clone(), m.clone()));
        }
    }

    fn record(&self, call: Call) -> Result<(), ChatError> {
        if let Some(e) = self.failures.lock().ok().and_then(|mut f| f.pop_front()) {
            return Err(e);
        }
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
        Ok(())
    }
}

impl ChatAdapter for MemoryAdapter {
    fn platform(&self) -> Platform {
        self.platform
    }

    fn send_prompt<'a>(
        &'a self,
        to: &'a ChatUser,
        p: &'a PromptMessage,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            self.record(Call::Prompt(to.clone(), p.clone()))?;
            let m = MessageRef { platform: self.platform, channel: format!("D-{}", to.id), message: p.token.clone() };
            self.remember(to, mark, &m);
            Ok(m)
        })
    }

    fn close_prompt<'a>(&'a self, m: &'a MessageRef, c: &'a PromptClosing) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move { self.record(Call::Close(m.clone(), c.clone())) })
    }

    fn notify<'a>(
        &'a self,
        to: &'a ChatUser,
        n: &'a Notification,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            self.record(Call::Notify(to.clone(), n.clone()))?;
            let m = MessageRef { platform: self.platform, channel: format!("D-{}", to.id), message: mark.key.clone() };
            self.remember(to, mark, &m);
            Ok(m)
        })
    }

    fn find_copies<'a>(
        &'a self,
        to: &'a ChatUser,
        mark: &'a Mark,
    ) -> BoxFuture<'a, Result<Vec<MessageRef>, ChatError>> {
        Box::pin(async move {
            let sent = self.sent.lock().map(|s| s.clone()).unwrap_or_default();
            let mut found: Vec<MessageRef> = sent
                .into_iter()
                .filter(|(u, m, _)| u == to && m.identity() == mark.identity())
                .map(|(_, _, r)| r)
                .collect();
            found.dedup();
            Ok(found)
        })
    }

    fn delete_message<'a>(&'a self, m: &'a MessageRef) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move {
            if let Ok(mut sent) = self.sent.lock() {
                sent.retain(|(_, _, r)| r != m);
            }
            Ok(())
        })
    }
}
