//! `wharf admin …`: users and tenants from a terminal, for scripted installs, without the
//! console running (the work is `wharf_console::admin`'s).
//!
//! * `wharf admin user create NAME [--password P | --password-stdin] [--platform-admin] [--display-name D]`
//!   (no password given: one is made and printed)
//! * `wharf admin user passwd NAME [--password P | --password-stdin]`
//! * `wharf admin user disable NAME`, `wharf admin user enable NAME`, `wharf admin user list`
//! * `wharf admin tenant create NAME --namespace NS [--namespace NS…] [--adopt NS…] [--display-name D]
//!   [--cpu Q] [--memory Q] [--pods N] [--storage Q] [--pod-security LEVEL] [--host H…] [--image-prefix P]`
//! * `wharf admin tenant list`
//!
//! A refusal (a bad name, a short password, something that exists) is one sentence on stderr
//! and exit code 2.

use clap::Subcommand;
use std::io::BufRead;
use wharf_console::admin::{tenants, users, AdminError};

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Users: create, passwd, disable, enable, list.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Tenants: create, list.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
}

/// Where a password comes from.
#[derive(clap::Args, Debug)]
pub struct PasswordArgs {
    /// The password (visible in the shell's history: prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    Create {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// Sees and changes every tenant.
        #[arg(long)]
        platform_admin: bool,
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// Give a user a new password.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    Create(Box<TenantCreate>),
    List,
}

/// `wharf admin tenant create`'s arguments.
#[derive(clap::Args, Debug)]
pub struct TenantCreate {
    name: String,
    /// A namespace of the tenant (created when missing); repeat for several.
    #[arg(long = "namespace", required = true)]
    namespaces: Vec<String>,
    /// An existing namespace (also given with --namespace) taken over with everything in it.
    #[arg(long = "adopt")]
    adopt: Vec<String>,
    #[arg(long, default_value = "")]
    display_name: String,
    /// Quota per namespace: CPU requested in total (e.g. 2, 500m).
    #[arg(long, default_value = "")]
    cpu: String,
    /// Quota per namespace: memory requested in total (e.g. 4Gi).
    #[arg(long, default_value = "")]
    memory: String,
    /// Quota per namespace: pods.
    #[arg(long, default_value = "")]
    pods: String,
    /// Quota per namespace: persistent storage requested in total (e.g. 100Gi).
    #[arg(long, default_value = "")]
    storage: String,
    /// restricted, baseline or privileged.
    #[arg(long, default_value = "restricted")]
    pod_security: String,
    /// A host name or *.suffix the tenant may route on nginx clusters; repeat for several.
    #[arg(long = "host")]
    hosts: Vec<String>,
    /// The image repository prefix its pipelines may push to.
    #[arg(long, default_value = "")]
    image_prefix: String,
}

/// The password asked for, or a new random one (then `true`: print it).
fn password_of(args: &PasswordArgs) -> anyhow::Result<(String, bool)> {
    if let Some(p) = &args.password {
        return Ok((p.clone(), false));
    }
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_string(), false));
    }
    let made = users::random_password();
    Ok((made, true))
}

/// Runs the command; `Err` only for failures (a refusal is printed and exits 2).
pub async fn run(client: kube::Client, command: AdminCommand) -> anyhow::Result<()> {
    match execute(&client, command).await {
        Ok(out) => {
            print!("{out}");
            Ok(())
        }
        Err(e @ (AdminError::Invalid(_) | AdminError::Exists(_) | AdminError::NotFound(_))) => {
            eprintln!("wharf admin: {e}");
            std::process::exit(2)
        }
        Err(e) => Err(e.into()),
    }
}

/// What the command prints, or why it could not be done.
pub async fn execute(client: &kube::Client, command: AdminCommand) -> Result<String, AdminError> {
    let password = |args: &PasswordArgs| {
        password_of(args).map_err(|e| {
            AdminError::Invalid(wharf_api::text!(
                "reading the password: {e}",
                "读取密码失败:{e}"
            ))
        })
    };
    Ok(match command {
        AdminCommand::User { command } => match command {
            UserCommand::Create {
                name,
                password: args,
                platform_admin,
                display_name,
            } => {
                let (password, made) = password(&args)?;
                users::create(
                    client,
                    &users::NewUser {
                        name: name.clone(),
                        display_name,
                        password: password.clone(),
                        platform_admin,
                    },
                )
                .await?;
                if made {
                    format!("created user {name} with password {password}\n")
                } else {
                    format!("created user {name}\n")
                }
            }
            UserCommand::Passwd {
                name,
                password: args,
            } => {
                let (password, made) = password(&args)?;
                users::set_password(client, &name, &password).await?;
                if made {
                    format!("new password of {name}: {password}\n")
                } else {
                    format!("changed the password of {name}\n")
                }
            }
            UserCommand::Disable { name } => {
                users::set_disabled(client, &name, true).await?;
                format!("disabled {name}\n")
            }
            UserCommand::Enable { name } => {
                users::set_disabled(client, &name, false).await?;
                format!("enabled {name}\n")
            }
            UserCommand::List => {
                let mut out = String::from("NAME\tPLATFORM-ADMIN\tDISABLED\tTENANTS\n");
                for u in users::list(client).await? {
                    let tenants: Vec<String> = u
                        .memberships
                        .iter()
                        .map(|(t, r)| format!("{t}:{r}"))
                        .collect();
                    out.push_str(&format!(
                        "{}\t{}\t{}\t{}\n",
                        u.name,
                        u.platform_admin,
                        u.disabled,
                        tenants.join(",")
                    ));
                }
                out
            }
        },
        AdminCommand::Tenant { command } => match command {
            TenantCommand::Create(args) => {
                let TenantCreate {
                    name,
                    namespaces,
                    adopt,
                    display_name,
                    cpu,
                    memory,
                    pods,
                    storage,
                    pod_security,
                    hosts,
                    image_prefix,
                } = *args;
                let form = wharf_api::admin::TenantForm {
                    name: name.clone(),
                    display_name,
                    namespaces: namespaces.clone(),
                    adopt,
                    quota: wharf_api::admin::QuotaForm {
                        cpu,
                        memory,
                        pods,
                        storage,
                    },
                    pod_security,
                    hosts,
                    image_prefix,
                };
                tenants::create(client, &form).await?;
                format!("created tenant {name} ({})\n", namespaces.join(", "))
            }
            TenantCommand::List => {
                let mut out = String::from("NAME\tDISPLAY-NAME\tNAMESPACES\n");
                for t in tenants::list(client).await? {
                    out.push_str(&format!(
                        "{}\t{}\t{}\n",
                        t.name,
                        t.display_name,
                        t.namespaces.join(",")
                    ));
                }
                out
            }
        },
    })
}
