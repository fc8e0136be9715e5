//! `signoff completions <shell>`, driven as a user would: the built binary prints a script for each shell, the
//! script names every command, the shell itself accepts it, and bash really completes with it.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repo_root, signoff};

/// The commands `signoff --help` lists (clap's own `help` aside), read from the binary, so that a command added
/// later is checked too.
fn commands() -> Vec<String> {
    let run = signoff(repo_root(), &["--help"], &[]);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    let listed: Vec<String> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    for known in ["serve", "reload", "check", "simulate", "migrate", "audit", "discord", "token", "completions"] {
        assert!(listed.iter().any(|c| c == known), "`signoff --help` does not list `{known}`:\n{}", run.stdout);
    }
    listed
}

/// The script for `shell`, checked to come out whole.
fn script(shell: &str) -> String {
    let run = signoff(repo_root(), &["completions", shell], &[]);
    assert_eq!(run.code, Some(0), "signoff completions {shell}: stderr:\n{}", run.stderr);
    assert_eq!(run.stderr, "", "signoff completions {shell} wrote to stderr");
    assert!(run.stdout.lines().count() > 20, "the {shell} script is suspiciously short:\n{}", run.stdout);
    run.stdout
}

/// Whether `program` can be run at all.
fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `shell -n file`: the shell parses the script without running it.
fn syntax_ok(shell: &str, file: &Path) {
    let out = Command::new(shell).arg("-n").arg(file).output().unwrap_or_else(|e| panic!("{shell} runs: {e}"));
    assert!(out.status.success(), "`{shell} -n` rejects the script:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn write_script(dir: &tempfile::TempDir, shell: &str) -> std::path::PathBuf {
    let path = dir.path().join(format!("signoff.{shell}"));
    std::fs::write(&path, script(shell)).unwrap();
    path
}

#[test]
fn every_shell_script_names_every_command_and_the_nested_ones() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish"] {
        let text = script(shell);
        for c in commands.iter().map(String::as_str).chain(["verify", "head", "keygen", "register-commands", "new"]) {
            assert!(text.contains(c), "the {shell} script never mentions `{c}`");
        }
        for flag in ["--config", "--public-key", "--expect-head", "--requester", "--log-format"] {
            assert!(text.contains(flag.trim_start_matches('-')), "the {shell} script never mentions `{flag}`");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_ones_there_are() {
    let run = signoff(repo_root(), &["completions", "tcsh"], &[]);
    assert_eq!(run.code, Some(2), "stdout:\n{}", run.stdout);
    for shell in ["bash", "zsh", "fish"] {
        assert!(run.stderr.contains(shell), "the error does not offer {shell}:\n{}", run.stderr);
    }
}

#[test]
fn bash_accepts_the_script_and_completes_commands_and_flags_with_it() {
    assert!(installed("bash"), "bash is needed to check the bash script");
    let dir = tempfile::tempdir().unwrap();
    let file = write_script(&dir, "bash");
    syntax_ok("bash", &file);
    // Source it and ask for completions the way bash's `complete -F` does.
    let complete = |words: &str| -> Vec<String> {
        let program = format!(
            "source {file}\nCOMP_WORDS=({words})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
             COMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\
             _signoff signoff \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            file = file.display()
        );
        let out = Command::new("bash").arg("-c").arg(program).output().unwrap();
        assert!(out.status.success(), "bash failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
    };
    let top = complete("signoff ''");
    for c in commands() {
        assert!(top.contains(&c), "`signoff <TAB>` does not offer `{c}`: {top:?}");
    }
    assert_eq!(complete("signoff au"), ["audit"]);
    assert_eq!(complete("signoff completions f"), ["fish"]);
    let audit = complete("signoff audit ''");
    for c in ["verify", "head", "keygen"] {
        assert!(audit.contains(&c.to_owned()), "`signoff audit <TAB>` does not offer `{c}`: {audit:?}");
    }
    assert!(complete("signoff audit verify --pub").contains(&"--public-key".to_owned()));
}

#[test]
fn zsh_and_fish_accept_their_scripts_when_installed() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["zsh", "fish"] {
        let file = write_script(&dir, shell);
        if installed(shell) {
            syntax_ok(shell, &file);
        } else {
            // The script itself was still produced and checked above; only the shell's own parse is skipped.
            eprintln!("skipped: `{shell} -n` (no {shell} on this machine)");
        }
    }
}
