//! The test directory (`wharf_tests::ldap::Directory`, a real `slapd`) for the Playwright
//! specs: prints one JSON line — `{"ldaps": …, "ldap": …, "ca_pem": …, "form": …}` — once it
//! answers, then takes one command per line on its standard input and answers each with a
//! line once done:
//!
//! * `{"leave": ["dora", "alpha-devs"]}` — takes a person out of a group → `{"done": "leave"}`
//!
//! It runs until its standard input closes (the spec ends) or it is killed.

use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Command {
    Leave(String, String),
}

#[tokio::main]
async fn main() {
    let directory = wharf_tests::ldap::Directory::start().await;
    let ready = serde_json::json!({
        "ldaps": directory.ldaps,
        "ldap": directory.ldap,
        "ca_pem": directory.ca_pem,
        "form": directory.form("corp"),
    });
    println!("{ready}");
    // NB: read to the end: the spec closing our input (or dying) stops the directory
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str::<Command>(&line) {
            Ok(Command::Leave(user, group)) => {
                directory.leave(&user, &group).await;
                println!("{}", serde_json::json!({"done": "leave"}));
            }
            Err(e) => println!("{}", serde_json::json!({"error": e.to_string()})),
        }
    }
}
