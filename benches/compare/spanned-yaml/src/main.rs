//! signoff's spanned YAML reader (src/source + src/diag, compiled as they are) against serde-saphyr's `Spanned`:
//! the same documents and the same structs, positions of every `manager` value, error messages, and speed.
#[path = "../../../../src/diag.rs"]
#[allow(dead_code)]
mod diag;
#[path = "../../../../src/source/mod.rs"]
#[allow(dead_code)]
mod source;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use serde::de::IgnoredAny;

macro_rules! people {
    ($m:ident, $spanned:ty) => {
        #[allow(dead_code)]
        mod $m {
            use super::*;
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct People {
                pub source: Option<String>,
                pub users: Vec<User>,
            }
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct User {
                pub id: String,
                pub name: Option<String>,
                pub title: Option<String>,
                pub department: Option<String>,
                pub manager: Option<$spanned>,
                pub grade: Option<u32>,
                pub work_status: Option<String>,
                pub location: Option<String>,
                pub slack_id: Option<String>,
                pub discord_id: Option<String>,
                pub active: Option<bool>,
                pub out_of_office_until: Option<String>,
                pub permissions: Option<Vec<String>>,
                pub custom_attributes: Option<IgnoredAny>,
            }
        }
    };
}
people!(ours, source::Spanned<String>);
people!(theirs, serde_saphyr::Spanned<String>);

fn parse_ours(text: &str) -> Result<ours::People, String> {
    let doc = source::parse_str(Arc::from(Path::new("people.yaml")), text, source::Format::Yaml)
        .map_err(|d| d.to_string())?;
    doc.deserialize::<ours::People>().map_err(|d| d.to_string())
}

fn parse_theirs(text: &str) -> Result<theirs::People, String> {
    serde_saphyr::from_str::<theirs::People>(text).map_err(|e| format!("people.yaml: {e}"))
}

/// Microseconds per call of `ours` and `theirs`: 9 rounds, each timing both in turn; the median round of each.
fn interleaved(ours: impl Fn() -> usize, theirs: impl Fn() -> usize, rounds: usize) -> (f64, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        for (f, out) in [(&ours as &dyn Fn() -> usize, &mut a), (&theirs as &dyn Fn() -> usize, &mut b)] {
            let start = Instant::now();
            let mut n = 0;
            for _ in 0..rounds {
                n += black_box(f());
            }
            black_box(n);
            out.push(start.elapsed().as_nanos() as f64 / rounds as f64 / 1000.0);
        }
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    (a[4], b[4])
}

fn main() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../examples/directory/people.yaml"))
        .unwrap();
    let a = parse_ours(&text).unwrap();
    let b = parse_theirs(&text).unwrap();
    let mut same = 0;
    for (x, y) in a.users.iter().zip(&b.users) {
        match (&x.manager, &y.manager) {
            (Some(x), Some(y)) => {
                let theirs = format!("{}:{}", y.referenced.line(), y.referenced.column());
                let mine = x.loc.pos.to_string();
                if mine == theirs {
                    same += 1;
                } else {
                    println!("manager of {}: ours {mine}, serde-saphyr {theirs}", x.value);
                }
            }
            (None, None) => {}
            _ => println!("one side lost a manager"),
        }
    }
    println!("manager positions equal: {same}");

    let cases = [
        ("unknown key", text.replacen("    manager: cleo", "    mangaer: cleo", 1)),
        ("wrong type", text.replacen("grade: 12", "grade: twelve", 1)),
        ("missing key", text.replacen("  - id: cleo@example.com\n", "  - discord_id: \"1\"\n", 1)),
        ("1.1 boolean", text.replacen("    active: false", "    active: no", 1)),
        ("duplicate key", text.replacen("    grade: 12\n", "    grade: 12\n    grade: 11\n", 1)),
        ("number as string", text.replacen("    name: Cleo Park", "    name: 1234", 1)),
        ("second document", format!("{text}---\nusers: []\n")),
    ];
    for (what, input) in &cases {
        println!("{what}:");
        println!("    signoff      {}", parse_ours(input).err().unwrap_or_else(|| "accepted".to_owned()));
        println!("    serde-saphyr {}", parse_theirs(input).err().unwrap_or_else(|| "accepted".to_owned()));
    }

    // A larger file: the 14 people repeated to 1,400.
    let body = text.split_once("users:\n").unwrap().1;
    let big = format!("source: okta\nusers:\n{}", body.repeat(100));
    for (label, input, rounds) in [("people.yaml (14 users)", &text, 1000), ("1,400 users", &big, 10)] {
        let (o, t) =
            interleaved(|| parse_ours(input).unwrap().users.len(), || parse_theirs(input).unwrap().users.len(), rounds);
        println!(
            "{label}: signoff {o:.1} us, serde-saphyr {t:.1} us per parse+deserialize (median of 9); serde-saphyr/signoff = {:.2}",
            t / o
        );
    }
}
