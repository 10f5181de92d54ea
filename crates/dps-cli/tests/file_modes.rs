//! The database and every file that holds a secret are readable by their owner only, whatever
//! the umask; other files are created as any file is.
#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Env;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_database_its_key_file_and_exports_with_secrets_are_their_owners_only_under_umask_022() {
    let env = Env::sqlite();
    let run = |args: &[&str]| {
        let out = env.run_under_umask("022", args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["targets", "init"]);
    run(&[
        "group",
        "create",
        "--name",
        "Lab",
        "--environment",
        "prod-eu",
        "--ou",
        "acme",
    ]);
    assert_eq!(mode(Path::new(&env.db)), 0o600, "the database");
    assert_eq!(mode(&env.key_file()), 0o600, "the key file");

    run(&[
        "device",
        "export",
        "--group",
        "Lab",
        "--all",
        "-o",
        "plain.csv",
    ]);
    assert_eq!(
        mode(&env.path("plain.csv")),
        0o644,
        "a file without secrets, as the umask makes it"
    );
    run(&[
        "device",
        "export",
        "--group",
        "Lab",
        "--all",
        "--include-secrets",
        "-o",
        "secrets.csv",
    ]);
    assert_eq!(mode(&env.path("secrets.csv")), 0o600, "device secrets");
    run(&[
        "device",
        "export",
        "--group",
        "Lab",
        "--all",
        "--include-bootstrap-keys",
        "-o",
        "keys.xlsx",
    ]);
    assert_eq!(mode(&env.path("keys.xlsx")), 0o600, "bootstrap keys");
    run(&["keys", "rotate"]);
    assert_eq!(mode(&env.key_file()), 0o600, "the key file, rewritten");
    assert_eq!(mode(Path::new(&env.db)), 0o600, "the database, compacted");
}
