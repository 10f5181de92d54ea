use dps_core::inject::SeededSecrets;

use super::*;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_created_file_reads_back_with_its_one_key() {
    let d = dir();
    let path = d.path().join("dps.keys");
    let file = KeyFile::create(&path, &SeededSecrets::new(1)).unwrap();
    let again = KeyFile::open(&path).unwrap();
    assert_eq!(again.current_id(), file.current_id());
    assert_eq!(again.ids(), file.ids());
    assert_eq!(
        again.key(file.current_id()),
        file.keys().key(file.current_id())
    );
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(HEADER), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(matches!(
        KeyFile::create(&path, &SeededSecrets::new(2)),
        Err(KeyFileError::Exists { .. })
    ));
}

#[cfg(unix)]
#[test]
fn the_file_is_private_after_every_write() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir();
    let path = d.path().join("dps.keys");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut file = KeyFile::create(&path, &SeededSecrets::new(1)).unwrap();
    assert_eq!(mode(&path), 0o600);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    file.rotate(&SeededSecrets::new(2)).unwrap();
    assert_eq!(mode(&path), 0o600);
    // No temporary file is left behind; the lock file is private too.
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert_eq!(mode(&d.path().join("dps.keys.lock")), 0o600);
}

#[test]
fn rotation_adds_a_current_key_and_removal_drops_an_old_one() {
    let d = dir();
    let path = d.path().join("dps.keys");
    let mut file = KeyFile::create(&path, &SeededSecrets::new(1)).unwrap();
    let old = file.current_id().clone();
    let old_key = file.keys().key(&old).unwrap();
    let new = file.rotate(&SeededSecrets::new(2)).unwrap();
    let read = KeyFile::open(&path).unwrap();
    assert_eq!(read.current_id(), &new);
    assert_eq!(read.ids(), &[new.clone(), old.clone()]);
    assert_eq!(read.key(&old), Some(old_key));

    let refused = file.remove(&new).unwrap_err();
    assert!(matches!(refused, KeyFileError::RemoveCurrent { .. }));
    assert_eq!(refused.code(), "key_file_refused");
    let ghost: KeyId = "k-00000000".parse().unwrap();
    assert!(matches!(
        file.remove(&ghost),
        Err(KeyFileError::UnknownKey { .. })
    ));
    file.remove(&old).unwrap();
    let read = KeyFile::open(&path).unwrap();
    assert_eq!(read.ids(), std::slice::from_ref(&new));
    assert_eq!(read.key(&old), None);
    assert_eq!(read.current_id(), &new);
}

#[test]
fn a_rotation_keeps_what_another_writer_added_meanwhile() {
    let d = dir();
    let path = d.path().join("dps.keys");
    let mut mine = KeyFile::create(&path, &SeededSecrets::new(1)).unwrap();
    let mut theirs = KeyFile::open(&path).unwrap();
    let their_key = theirs.rotate(&SeededSecrets::new(2)).unwrap();
    let my_key = mine.rotate(&SeededSecrets::new(3)).unwrap();
    let read = KeyFile::open(&path).unwrap();
    assert_eq!(read.current_id(), &my_key);
    assert!(read.ids().contains(&their_key), "{:?}", read.ids());
    assert_eq!(read.ids().len(), 3);
}

#[test]
fn a_damaged_file_is_refused_naming_the_line() {
    let d = dir();
    let path = d.path().join("dps.keys");
    let key = "ab".repeat(32);
    let cases = [
        (format!("current k1\nkey k1 {}\n", &key[..10]), Some(2)),
        (format!("current k1\nkey k1 {key}\nkey k1 {key}\n"), Some(3)),
        (format!("current k1\ncurrent k1\nkey k1 {key}\n"), Some(2)),
        (format!("# c\nsomething else\nkey k1 {key}\n"), Some(2)),
        (format!("current k2\nkey k1 {key}\n"), None),
        (format!("key k1 {key}\n"), None),
    ];
    for (text, line) in cases {
        fs::write(&path, &text).unwrap();
        let e = KeyFile::open(&path).unwrap_err();
        assert_eq!(e.code(), "key_file_invalid", "{text}");
        match (line, &e) {
            (Some(n), KeyFileError::Format { line, .. }) => assert_eq!(*line, n, "{text}"),
            (None, KeyFileError::NoCurrentKey { .. }) => {}
            _ => panic!("{text}: {e}"),
        }
        assert!(!e.to_string().contains(&key), "{e}");
    }
    let missing = KeyFile::open(d.path().join("none")).unwrap_err();
    let KeyFileError::Io { source, .. } = &missing else {
        panic!("{missing}");
    };
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(missing.code(), "key_file_unreadable");
}

#[test]
fn its_debug_shows_no_key() {
    let d = dir();
    let file = KeyFile::create(d.path().join("k"), &SeededSecrets::new(1)).unwrap();
    let hex = file.keys().key(file.current_id()).unwrap().to_hex();
    assert!(!format!("{file:?}").contains(&hex));
}

#[test]
fn a_live_key_file_takes_up_a_rotation_made_elsewhere() {
    let d = dir();
    let path = d.path().join("dps.keys");
    let file = KeyFile::create(&path, &SeededSecrets::new(1)).unwrap();
    let old = file.current_id().clone();
    let live = LiveKeyFile::new(file);
    assert!(!live.refresh().unwrap());
    let new = KeyFile::open(&path)
        .unwrap()
        .rotate(&SeededSecrets::new(2))
        .unwrap();
    assert_eq!(live.current().map(|(id, _)| id), Some(old.clone()));
    assert!(live.refresh().unwrap());
    assert_eq!(live.current().map(|(id, _)| id), Some(new));
    assert!(live.key(&old).is_some());
    fs::remove_file(&path).unwrap();
    assert!(live.refresh().is_err());
    assert!(
        live.key(&old).is_some(),
        "an unreadable file leaves the keys as they were"
    );
}
