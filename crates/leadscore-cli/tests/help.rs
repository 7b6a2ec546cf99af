//! The command-line surface, reviewed as snapshots: a change to a command, flag or help text shows
//! up in review.

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
