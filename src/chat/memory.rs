//! An adapter that records every call, for tests and demos. It can be told to fail the next calls, to
//! exercise retries.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use signoff_port::{
    BoxFuture, ChatAdapter, ChatError, ChatUser, MessageRef, Notification, Platform, PromptClosing, PromptMessage,
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
}

impl MemoryAdapter {
    /// A recorder pretending to be `platform`.
    pub fn new(platform: Platform) -> MemoryAdapter {
        MemoryAdapter { platform, calls: Arc::default(), failures: Arc::default() }
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
    ) -> BoxFuture<'a, Result<MessageRef, ChatError>> {
        Box::pin(async move {
            self.record(Call::Prompt(to.clone(), p.clone()))?;
            Ok(MessageRef { platform: self.platform, channel: format!("D-{}", to.id), message: p.token.clone() })
        })
    }

    fn close_prompt<'a>(&'a self, m: &'a MessageRef, c: &'a PromptClosing) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move { self.record(Call::Close(m.clone(), c.clone())) })
    }

    fn notify<'a>(&'a self, to: &'a ChatUser, n: &'a Notification) -> BoxFuture<'a, Result<(), ChatError>> {
        Box::pin(async move { self.record(Call::Notify(to.clone(), n.clone())) })
    }
}
