//! The test directory (`wharf_tests::ldap::Directory`, a real `slapd`) for the Playwright
//! specs: prints one JSON line — `{"ldaps": …, "ldap": …, "ca_pem": …, "form": …}` — once it
//! answers, and runs until its standard input closes (the spec ends) or it is killed.

use tokio::io::AsyncReadExt;

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
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
}
