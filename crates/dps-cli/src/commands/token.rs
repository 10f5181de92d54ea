//! `dps token`: create, revoke and list the access tokens of the HTTP API.

use dps_core::access::{AccessToken, Role};
use dps_core::inject::{Clock as _, OsSecrets, SystemClock};
use dps_core::{Actor, StoreError};
use serde::Serialize;

use crate::cli::{RoleArg, TokenCommand};
use crate::context::{Dps, resolve_group};
use crate::output::{PageView, print_json};
use crate::{CliResult, Failure};

/// A token as `dps token` prints it: `{"name", "role", "groups", "bulk_import"}`, and its
/// text once, at creation.
#[derive(Debug, Serialize)]
pub(crate) struct TokenOut<'a> {
    name: &'a str,
    role: &'static str,
    groups: Vec<String>,
    bulk_import: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

impl<'a> TokenOut<'a> {
    pub(crate) fn new(token: &'a AccessToken, text: Option<&'a str>) -> Self {
        Self {
            name: token.name().as_str(),
            role: token.role().as_str(),
            groups: token.groups().iter().map(ToString::to_string).collect(),
            bulk_import: token.may_bulk_import(),
            token: text,
        }
    }
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Viewer => Role::Viewer,
        RoleArg::Operator => Role::Operator,
        RoleArg::Admin => Role::Admin,
    }
}

/// Issues a token and stores its hash; the text is returned, never kept.
pub(crate) async fn issue(
    dps: &Dps,
    name: Actor,
    role: Role,
    groups: Vec<dps_core::GroupId>,
    bulk_import: bool,
) -> CliResult<(AccessToken, String)> {
    if name.as_str() == "cli" {
        return Err(Failure::invalid(
            "invalid_actor",
            "`cli` names the command line's own changes; choose another token name",
        ));
    }
    let (token, text) = AccessToken::issue(name, role, groups, &OsSecrets, SystemClock.now());
    let token = token.with_bulk_import(bulk_import);
    match dps.store().insert_token(&token).await {
        Ok(()) => Ok((token, text)),
        Err(StoreError::AlreadyExists { .. }) => Err(Failure::invalid(
            "already_exists",
            format!(
                "a token named {:?} exists; revoke it first or choose another name",
                token.name().as_str()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn run(dps: &Dps, command: TokenCommand, json: bool) -> CliResult<u8> {
    match command {
        TokenCommand::Create {
            name,
            role: r,
            groups,
            bulk_import,
        } => {
            let name = Actor::new(&name)?;
            let mut ids = Vec::with_capacity(groups.len());
            for g in &groups {
                ids.push(resolve_group(dps, g).await?.id());
            }
            let (token, text) = issue(dps, name, role(r), ids, bulk_import).await?;
            if json {
                print_json(&TokenOut::new(&token, Some(&text)))?;
            } else {
                println!("token {} ({}): {text}", token.name(), token.role());
                println!(
                    "  shown only now: keep it in a secret store; `dps token revoke {}` ends it",
                    token.name()
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { name } => {
            let name = Actor::new(&name)?;
            if !dps.store().remove_token(&name).await? {
                return Err(Failure::invalid(
                    "not_found",
                    format!("no token is named {:?}", name.as_str()),
                ));
            }
            if json {
                print_json(&serde_json::json!({"revoked": name.as_str()}))?;
            } else {
                println!("revoked {name}");
            }
            Ok(0)
        }
        TokenCommand::List => {
            let tokens = dps.store().tokens().await?;
            if json {
                let items = tokens.iter().map(|t| TokenOut::new(t, None)).collect();
                print_json(&PageView::complete(items))?;
            } else {
                for t in &tokens {
                    let reach = if t.groups().is_empty() {
                        "every group".to_owned()
                    } else {
                        format!("{} groups", t.groups().len())
                    };
                    let bulk = if t.may_bulk_import() {
                        "  bulk import"
                    } else {
                        ""
                    };
                    println!(
                        "{}  {}  {reach}{bulk}  created {}",
                        t.name(),
                        t.role(),
                        t.created_at()
                    );
                }
            }
            Ok(0)
        }
    }
}
