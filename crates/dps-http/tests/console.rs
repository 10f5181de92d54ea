//! The console's sign-in, sessions, CSRF protection, roles and escaping, called in process.

mod common;

use axum::http::{Method, StatusCode};
use common::{Answer, Harness};
use dps_core::access::Role;
use serde_json::json;

/// A signed-in browser: its session cookie and the CSRF token of its forms.
struct Browser {
    cookie: String,
    csrf: String,
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

async fn sign_in(h: &Harness, token: &str) -> Browser {
    let body = format!("token={}", urlencode(token));
    let a = h
        .send(Method::POST, "/sign-in", None, &[FORM], Some(body))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text);
    let set = a.header("set-cookie").to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = get(h, &cookie, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = csrf_of(&page.text);
    Browser { cookie, csrf }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"_csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 20;
    page[at..at + 64].to_owned()
}

async fn get(h: &Harness, cookie: &str, path: &str) -> Answer {
    h.send(Method::GET, path, None, &[("cookie", cookie)], None)
        .await
}

async fn post(h: &Harness, cookie: &str, path: &str, body: &str) -> Answer {
    h.send(
        Method::POST,
        path,
        None,
        &[("cookie", cookie), FORM],
        Some(body.to_owned()),
    )
    .await
}

async fn device_json(h: &Harness, group: &str, serial: &str) -> serde_json::Value {
    let a = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices/{serial}"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    a.body
}

#[tokio::test]
async fn a_request_without_a_session_is_sent_to_sign_in() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    for path in [
        "/",
        &format!("/groups/{group}/devices"),
        &format!("/groups/{group}"),
    ] {
        let a = h.send(Method::GET, path, None, &[], None).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(a.header("location"), "/sign-in", "{path}");
    }
    let a = get(&h, "dps_session=0000", "/").await;
    assert_eq!(a.header("location"), "/sign-in");
    let a = h.send(Method::GET, "/sign-in", None, &[], None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.text.contains("Access token"));
}

#[tokio::test]
async fn sign_in_gives_a_strict_http_only_cookie_and_a_strict_policy() {
    let h = Harness::new().await;
    h.group("lab").await;
    let wrong = h
        .send(
            Method::POST,
            "/sign-in",
            None,
            &[FORM],
            Some("token=dps_nope".into()),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("That token is not known here"));
    assert_eq!(wrong.header("set-cookie"), "");

    let body = format!("token={}", urlencode(&h.admin));
    let a = h
        .send(Method::POST, "/sign-in", None, &[FORM], Some(body.clone()))
        .await;
    let cookie = a.header("set-cookie");
    assert!(cookie.starts_with("dps_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let tls = h
        .send(
            Method::POST,
            "/sign-in",
            None,
            &[FORM, ("x-forwarded-proto", "https")],
            Some(body),
        )
        .await;
    assert!(tls.header("set-cookie").contains("; Secure"));

    let b = sign_in(&h, &h.admin).await;
    let page = get(&h, &b.cookie, "/").await;
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(page.text.contains("lab"));
    // No inline script or style: every script comes from the console's own file.
    assert_eq!(
        page.text.matches("<script").count(),
        page.text.matches("<script src=").count()
    );
    assert!(!page.text.contains("style="));
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    let b = sign_in(&h, &h.admin).await;
    let path = format!("/groups/{group}/devices/SN-1");
    for body in [
        "name=evil&model_id=m1&version=1",
        "name=evil&model_id=m1&version=1&_csrf=00",
    ] {
        let a = post(&h, &b.cookie, &path, body).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{body}");
        assert!(a.text.contains("did not come from this console"));
    }
    let a = post(
        &h,
        &b.cookie,
        &format!("/groups/{group}/devices"),
        "action=allocate&confirm=yes&serial=SN-1",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let device = device_json(&h, &group, "SN-1").await;
    assert_eq!(device["name"], serde_json::Value::Null);
    assert_eq!(device["status"], "not_allocated");

    // With the token the edit is saved.
    let body = format!("_csrf={}&name=Boiler&model_id=m1&version=1", b.csrf);
    let a = post(&h, &b.cookie, &path, &body).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text);
    assert_eq!(device_json(&h, &group, "SN-1").await["name"], "Boiler");
}

#[tokio::test]
async fn a_viewer_sees_no_change_buttons_and_its_posts_are_refused() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    let viewer = h.token("watcher", Role::Viewer, &[]).await;
    let b = sign_in(&h, &viewer).await;
    let list = get(&h, &b.cookie, &format!("/groups/{group}/devices")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains("Export Device Info"));
    for button in ["value=\"allocate\"", "value=\"reset\"", "value=\"delete\""] {
        assert!(!list.text.contains(button), "a viewer sees {button}");
    }
    let page = get(&h, &b.cookie, &format!("/groups/{group}/devices/SN-1")).await;
    assert!(!page.text.contains(">Save<") && !page.text.contains(">Confirm<"));
    let info = get(&h, &b.cookie, &format!("/groups/{group}")).await;
    assert!(!info.text.contains(">Save<"));

    let allocate = format!("_csrf={}&action=allocate&confirm=yes&serial=SN-1", b.csrf);
    let a = post(
        &h,
        &b.cookie,
        &format!("/groups/{group}/devices"),
        &allocate,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let edit = format!("_csrf={}&name=x&model_id=m1&version=1", b.csrf);
    let a = post(
        &h,
        &b.cookie,
        &format!("/groups/{group}/devices/SN-1"),
        &edit,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let delete = format!("_csrf={}&version=1&sure=1", b.csrf);
    let a = post(
        &h,
        &b.cookie,
        &format!("/groups/{group}/devices/SN-1/delete"),
        &delete,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let device = device_json(&h, &group, "SN-1").await;
    assert_eq!(device["status"], "not_allocated");
    assert_eq!(device["name"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_script_tag_in_a_device_name_shows_as_text() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    let name = "<script>alert(1)</script>";
    let a = h
        .admin(
            Method::PATCH,
            &format!("/v1/groups/{group}/devices/SN-1"),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let b = sign_in(&h, &h.admin).await;
    for path in [
        format!("/groups/{group}/devices"),
        format!("/groups/{group}/devices/SN-1"),
    ] {
        let page = get(&h, &b.cookie, &path).await;
        assert!(!page.text.contains(name), "{path}");
        assert!(
            page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_stale_edit_shows_a_conflict_and_overwrites_nothing() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    let b = sign_in(&h, &h.admin).await;
    let path = format!("/groups/{group}/devices/SN-1");
    let a = h
        .admin(
            Method::PATCH,
            &format!("/v1{path}"),
            Some(json!({"name": "theirs"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let body = format!("_csrf={}&name=mine&model_id=m1&version=1", b.csrf);
    let a = post(&h, &b.cookie, &path, &body).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(a.text.contains("Someone else changed this device"));
    assert!(
        a.text.contains("value=\"theirs\""),
        "the form shows the current values"
    );
    assert_eq!(device_json(&h, &group, "SN-1").await["name"], "theirs");
}

#[tokio::test]
async fn allocate_asks_for_confirmation_then_reports_each_device() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    h.device(&group, "SN-2", "gone").await;
    let b = sign_in(&h, &h.admin).await;
    let path = format!("/groups/{group}/devices");
    let body = format!("_csrf={}&action=allocate&serial=SN-1&serial=SN-2", b.csrf);
    let ask = post(&h, &b.cookie, &path, &body).await;
    assert_eq!(ask.status, StatusCode::OK);
    assert!(ask.text.contains("Allocate the 2 selected devices?"));
    assert_eq!(
        device_json(&h, &group, "SN-1").await["status"],
        "not_allocated"
    );
    let done = post(&h, &b.cookie, &path, &format!("{body}&confirm=yes")).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.text.contains("Allocate: 1 succeeded, 1 failed."),
        "{}",
        done.text
    );
    assert!(done.text.contains("SN-2"));
    assert_eq!(device_json(&h, &group, "SN-1").await["status"], "allocated");
    assert_eq!(
        device_json(&h, &group, "SN-2").await["status"],
        "not_allocated"
    );
    // Nothing selected: one line that says what to do.
    let none = post(
        &h,
        &b.cookie,
        &path,
        &format!("_csrf={}&action=reset", b.csrf),
    )
    .await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(none.text.contains("Select one or more devices first"));
}

#[tokio::test]
async fn sign_out_and_revocation_end_the_session() {
    let h = Harness::new().await;
    let b = sign_in(&h, &h.admin).await;
    let a = post(&h, &b.cookie, "/sign-out", &format!("_csrf={}", b.csrf)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(get(&h, &b.cookie, "/").await.header("location"), "/sign-in");

    let operator = h.token("ops", Role::Operator, &[]).await;
    let b = sign_in(&h, &operator).await;
    assert_eq!(get(&h, &b.cookie, "/").await.status, StatusCode::OK);
    use dps_core::Store as _;
    assert!(h.store.remove_token(&"ops".parse().unwrap()).await.unwrap());
    assert_eq!(get(&h, &b.cookie, "/").await.header("location"), "/sign-in");
}

#[tokio::test]
async fn a_token_limited_to_groups_sees_only_them() {
    let h = Harness::new().await;
    let mine = h.group("mine").await;
    let other = h.group("other").await;
    let limited = h
        .token("limited", Role::Operator, &[mine.parse().unwrap()])
        .await;
    let b = sign_in(&h, &limited).await;
    let list = get(&h, &b.cookie, "/").await;
    assert!(list.text.contains(">mine<") && !list.text.contains(">other<"));
    let a = get(&h, &b.cookie, &format!("/groups/{other}/devices")).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_an_admin_reveals_a_device_secret_and_the_log_records_it() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    let a = h
        .admin(
            Method::POST,
            &format!("/v1/groups/{group}/devices:allocate"),
            Some(json!({"serials": ["SN-1"]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let secret = h
        .admin(
            Method::GET,
            &format!("/v1/groups/{group}/devices/SN-1?include_secrets=true"),
            None,
        )
        .await
        .body["device_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/groups/{group}/devices/SN-1");

    let operator = h.token("ops", Role::Operator, &[]).await;
    let o = sign_in(&h, &operator).await;
    let page = get(&h, &o.cookie, &path).await;
    assert!(!page.text.contains("Reveal Device Secret") && !page.text.contains(&secret));
    let refused = post(
        &h,
        &o.cookie,
        &format!("{path}/reveal"),
        &format!("_csrf={}", o.csrf),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(!refused.text.contains(&secret));

    let b = sign_in(&h, &h.admin).await;
    let page = get(&h, &b.cookie, &path).await;
    assert!(page.text.contains("Reveal Device Secret") && !page.text.contains(&secret));
    let shown = post(
        &h,
        &b.cookie,
        &format!("{path}/reveal"),
        &format!("_csrf={}", b.csrf),
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.text.contains(&secret));
    let events = h.admin(Method::GET, "/v1/events?limit=1000", None).await;
    let revealed: Vec<_> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["kind"] == "secret_revealed")
        .collect();
    assert_eq!(revealed.len(), 1, "{}", events.text);
    assert_eq!(revealed[0]["actor"], "root");
    assert_eq!(revealed[0]["serial"], "SN-1");
}

#[tokio::test]
async fn a_large_batch_shows_its_job_with_a_progress_bar() {
    let h = Harness::with_options(dps_http::Options::default().with_job_threshold(1)).await;
    let group = h.group("lab").await;
    h.device(&group, "SN-1", "m1").await;
    h.device(&group, "SN-2", "gone").await;
    let b = sign_in(&h, &h.admin).await;
    let body = format!("_csrf={}&action=allocate&confirm=yes&every=1", b.csrf);
    let a = post(&h, &b.cookie, &format!("/groups/{group}/devices"), &body).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text);
    let job = a.header("location").to_owned();
    assert!(job.starts_with(&format!("/groups/{group}/jobs/")), "{job}");
    let mut page = get(&h, &b.cookie, &job).await;
    for _ in 0..5000 {
        if !page.text.contains("Running") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        page = get(&h, &b.cookie, &job).await;
    }
    assert!(page.text.contains("<progress"), "{}", page.text);
    assert!(page.text.contains("Finished"));
    assert!(
        page.text
            .contains("2 of 2 devices done: 1 succeeded, 1 failed.")
    );
    assert!(page.text.contains("SN-2"), "the failed device is listed");
    assert!(
        !page.text.contains("http-equiv=\"refresh\""),
        "an ended job's page stays"
    );
    assert_eq!(device_json(&h, &group, "SN-1").await["status"], "allocated");
    // Cancel needs the CSRF token.
    let a = post(&h, &b.cookie, &format!("{job}/cancel"), "").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_sign_in_posted_from_another_site_is_refused() {
    let h = Harness::new().await;
    let body = format!("token={}", urlencode(&h.admin));
    for headers in [
        vec![FORM, ("sec-fetch-site", "cross-site")],
        vec![
            FORM,
            ("origin", "http://evil.example"),
            ("host", "console.example"),
        ],
    ] {
        let a = h
            .send(Method::POST, "/sign-in", None, &headers, Some(body.clone()))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(a.header("set-cookie"), "");
    }
    let same = [FORM, ("sec-fetch-site", "same-origin")];
    let a = h
        .send(Method::POST, "/sign-in", None, &same, Some(body))
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_upload_is_imported_once_however_often_it_is_confirmed() {
    let h = Harness::new().await;
    let group = h.group("lab").await;
    let b = sign_in(&h, &h.admin).await;
    let template = get(
        &h,
        &b.cookie,
        &format!("/groups/{group}/import/template.csv"),
    )
    .await;
    let header = template.text.lines().next().unwrap().to_owned();
    let row: Vec<&str> = header
        .split(',')
        .map(|c| match c.trim_start_matches('\u{feff}') {
            "Device Serial No." => "SN-9",
            "Model ID" => "m1",
            _ => "",
        })
        .collect();
    let csv = format!("{header}\n{}\n", row.join(","));
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.csv\"\r\nContent-Type: text/csv\r\n\r\n{csv}\r\n--XyZ--\r\n",
        b.csrf
    );
    let multipart = ("content-type", "multipart/form-data; boundary=XyZ");
    let checked = h
        .send(
            Method::POST,
            &format!("/groups/{group}/import"),
            None,
            &[("cookie", &b.cookie), multipart],
            Some(body),
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text);
    assert!(
        checked.text.contains("1 records: 1 to register"),
        "{}",
        checked.text
    );
    let at = checked.text.find("/import/").unwrap() + 8;
    let confirm = format!("/groups/{group}/import/{}", &checked.text[at..at + 64]);
    let form = format!("_csrf={}", b.csrf);
    let first = post(&h, &b.cookie, &confirm, &form).await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.text.contains("Imported: 1 registered"));
    let again = post(&h, &b.cookie, &confirm, &form).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.text.contains("already imported"));
    assert_eq!(device_json(&h, &group, "SN-9").await["model_id"], "m1");
}
