//! The command-line surface, reviewed as snapshots: a change to a command, flag or help text shows
//! up in review; and what is generated from it, the shell completions and the manual pages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use clap::CommandFactory;
use leadscore_cli::Cli;

fn help(path: &[&str]) -> String {
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    let mut sub = &mut cmd;
    for p in path {
        sub = sub.find_subcommand_mut(p).unwrap_or_else(|| panic!("no subcommand {p}"));
    }
    sub.render_long_help().to_string()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&[]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!(help(&["run"]));
}

#[test]
fn synth_help() {
    insta::assert_snapshot!(help(&["synth"]));
}

#[test]
fn the_cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

/// The names of the commands and nested commands (`report channels`), as typed.
fn command_names() -> Vec<String> {
    let cmd = Cli::command();
    let mut names = Vec::new();
    for sub in cmd.get_subcommands() {
        names.push(sub.get_name().to_string());
        for nested in sub.get_subcommands() {
            names.push(format!("{} {}", sub.get_name(), nested.get_name()));
        }
    }
    names
}

#[test]
fn every_shell_gets_a_completion_script_naming_every_command() {
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
        clap_complete::Shell::Elvish,
        clap_complete::Shell::PowerShell,
    ] {
        let script = leadscore_cli::completions(shell).unwrap_or_else(|e| panic!("{shell}: {e}"));
        for name in command_names() {
            let last = name.rsplit(' ').next().unwrap_or_default();
            assert!(script.contains(last), "{shell}: no `{name}`");
        }
        // Fish names long options without their dashes (`-l partition`).
        assert!(script.contains("partition") && script.contains("log-format"), "{shell}: options missing");
    }
}

/// Runs the bash completion for the words typed so far (the last one being completed) and
/// returns what bash would offer.
fn bash_complete(words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("leadscore.bash");
    std::fs::write(&script, leadscore_cli::completions(clap_complete::Shell::Bash).unwrap()).unwrap();
    let line = words.join(" ");
    let program = format!(
        "source '{}'; COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         _leadscore leadscore '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = std::process::Command::new("bash").args(["-c", &program]).output().expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut offered: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    offered.sort();
    offered
}

#[test]
fn bash_completes_commands_and_their_options() {
    let commands = bash_complete(&["leadscore", "ba"]);
    assert_eq!(commands, ["backfill", "backtest"]);
    let options = bash_complete(&["leadscore", "run", "--part"]);
    assert_eq!(options, ["--partition"]);
    let shells = bash_complete(&["leadscore", "completions", "z"]);
    assert_eq!(shells, ["zsh"]);
}

#[test]
fn a_manual_page_for_the_program_and_each_command() {
    let pages = leadscore_cli::man_pages().unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"leadscore.1"));
    for name in command_names() {
        let file = format!("leadscore-{}.1", name.replace(' ', "-"));
        assert!(names.contains(&file.as_str()), "no page {file} in {names:?}");
    }
    for (name, page) in &pages {
        let title = name.trim_end_matches(".1");
        assert!(page.contains(&format!(".TH {title} 1")), "{name}: no title");
        assert!(page.contains(".SH NAME") && page.contains(".SH SYNOPSIS"), "{name}: no NAME or SYNOPSIS");
    }
    let (_, top) = &pages[0];
    assert!(top.contains("Exit codes: 0 success"), "the top page has the exit codes");
    let (_, run) = pages.iter().find(|(n, _)| n == "leadscore-run.1").expect("run's page");
    assert!(run.contains("\\-\\-partition") && run.contains("\\-\\-from\\-stage"), "run's page lists its options");
}
