//! Slack adapter for signoff.
