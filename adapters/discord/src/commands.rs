//! The `/request` command definition, and the option names the parser reads.
//!
//! One source of truth: `manifests/discord-commands.json` is what operators read and what
//! `signoff discord register-commands` sends (a bulk overwrite, `PUT /applications/{app}/commands`, so running
//! it again is harmless); it is compiled into the crate with `include_str!`, and a test checks that it parses
//! and that its option names are the ones [`crate::inbound`] reads.
//!
//! The definitions leave `contexts` and `integration_types` out: the defaults (a server install, usable in
//! servers and in the bot's DMs) are what signoff wants, and those fields are only allowed on global commands,
//! while the same file is also registered per guild (`--guild ID`).

use serde_json::Value;

/// The command's name.
pub const REQUEST: &str = "request";
/// The required option naming the resource; it has autocomplete from the directory.
pub const OPTION_RESOURCE: &str = "resource";
/// The optional role in the resource.
pub const OPTION_ROLE: &str = "role";
/// The optional user the access is for (a USER option).
pub const OPTION_FOR: &str = "for";
/// The optional duration, as typed ("8h").
pub const OPTION_DURATION: &str = "duration";
/// The optional reason.
pub const OPTION_REASON: &str = "reason";

/// The manifest's text, as shipped in `manifests/discord-commands.json`.
pub const DEFINITIONS_JSON: &str = include_str!("../../../manifests/discord-commands.json");

/// The command definitions: a JSON array of application command objects, ready for
/// [`crate::DiscordAdapter::register_commands`].
pub fn definitions() -> Value {
    serde_json::from_str(DEFINITIONS_JSON).expect("manifests/discord-commands.json is valid JSON (checked by a test)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_parses_into_one_request_command() {
        let defs = definitions();
        let commands = defs.as_array().expect("an array of commands");
        assert_eq!(commands.len(), 1);
        assert_eq!(commands[0]["name"], REQUEST);
        assert_eq!(commands[0]["type"], 1, "CHAT_INPUT");
    }

    #[test]
    fn the_manifest_options_are_the_ones_the_parser_reads() {
        let defs = definitions();
        let options = defs[0]["options"].as_array().unwrap();
        let shape: Vec<(&str, u64, bool, bool)> = options
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap(),
                    o["type"].as_u64().unwrap(),
                    o["required"].as_bool().unwrap_or(false),
                    o["autocomplete"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (OPTION_RESOURCE, 3, true, true),
                (OPTION_ROLE, 3, false, false),
                (OPTION_FOR, 6, false, false),
                (OPTION_DURATION, 3, false, false),
                (OPTION_REASON, 3, false, false),
            ]
        );
    }

    #[test]
    fn the_manifest_respects_discords_limits() {
        // Names 1-32 lower-case characters, descriptions 1-100 characters, at most 25 options.
        let defs = definitions();
        for command in defs.as_array().unwrap() {
            let options = command["options"].as_array().unwrap();
            assert!(options.len() <= 25);
            for item in std::iter::once(command).chain(options) {
                let name = item["name"].as_str().unwrap();
                assert!((1..=32).contains(&name.chars().count()) && name == name.to_lowercase(), "{name}");
                let description = item["description"].as_str().unwrap();
                assert!((1..=100).contains(&description.chars().count()), "{description}");
            }
        }
    }
}
