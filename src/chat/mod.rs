//! Chat, as the runtime sees it: the configured adapters, who each directory user is on each platform,
//! and how engine effects read as messages.
//!
//! - [`render`]: prompts, closings and notifications in words, from the engine's effects.
//! - [`click`]: a chat click made a decision, and what the clicker sees when it is refused.
//! - [`request`]: `/request` from chat made a request, and the answer in words.
//! - [`console`]: the adapter used when no chat platform is configured: it logs, and the API answers.
//! - [`memory`]: an adapter that records what it was asked to do, for tests and demos.

pub mod click;
pub mod console;
pub mod memory;
pub mod render;
pub mod request;

use std::sync::Arc;

use signoff_port::{ChatAdapter, ChatUser, Platform};

use crate::directory::User;

/// The adapters in use.
#[derive(Clone, Default)]
pub struct Chat {
    adapters: Vec<Arc<dyn ChatAdapter>>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.adapters.iter().map(|a| a.platform())).finish()
    }
}

impl Chat {
    /// Chat through these adapters (at most one per platform; later ones are ignored).
    pub fn new(adapters: Vec<Arc<dyn ChatAdapter>>) -> Chat {
        let mut seen = Vec::new();
        let adapters = adapters
            .into_iter()
            .filter(|a| {
                let p = a.platform();
                let first = !seen.contains(&p);
                seen.push(p);
                first
            })
            .collect();
        Chat { adapters }
    }

    /// The adapter of a platform.
    pub fn adapter(&self, platform: Platform) -> Option<&Arc<dyn ChatAdapter>> {
        self.adapters.iter().find(|a| a.platform() == platform)
    }

    /// Where `user` is reached: one identity per configured platform they are on. A person with ids on
    /// both Slack and Discord is asked on both; the console reaches everyone.
    pub fn recipients(&self, user: &User) -> Vec<ChatUser> {
        let mut out = Vec::new();
        for a in &self.adapters {
            let id = match a.platform() {
                // Without a `slack_id`, Slack finds the person by email (users.lookupByEmail, cached).
                Platform::Slack => user.slack_id.clone().or_else(|| Some(format!("email:{}", user.email))),
                Platform::Discord => user.discord_id.clone(),
                Platform::Console => Some(user.id.clone()),
            };
            if let Some(id) = id {
                out.push(ChatUser { platform: a.platform(), id });
            }
        }
        out
    }
}
