//! `dps serve` with a webhook target: a platform (the reference one, on a loopback socket)
//! onboards the devices allocated to it, and a device bootstraps with the credentials the
//! platform issued, over HTTP only.

mod common;

use axum::http::{Method, StatusCode};
use common::Env;
use common::serve::{Server, bootstrap_key, call, signed};
use dps_http::testing::Client;
use serde_json::json;
use webhook_platform::{Platform, PlatformConfig};

const SECRET: &str = "whsec_partner-test-0123456789";

#[test]
fn a_device_allocated_to_a_webhook_target_bootstraps_with_the_platforms_credentials() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut config = PlatformConfig::new(SECRET);
    config.models = vec!["thermostat".into()];
    config.mqtt = Some("mqtts://mqtt.partner.example.com:8883".into());
    let platform = Platform::new(config).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let router = platform.router();
    rt.spawn(async move { axum::serve(listener, router).await });

    let env = Env::sqlite();
    env.ok_json(&["targets", "init"]);
    let mut targets = std::fs::read_to_string(env.path("targets.toml")).unwrap();
    targets.push_str(&format!(
        "\n[[targets]]\nenvironment = \"partner\"\nou = \"acme\"\n\
         webhook = {{ url = \"{url}\", secret_env = \"DPS_PARTNER_SECRET\" }}\n"
    ));
    std::fs::write(env.path("targets.toml"), targets).unwrap();
    let listed = env.ok_json(&["targets", "list"]);
    let partner = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["environment"] == "partner")
        .unwrap();
    assert_eq!(partner["webhook"], url.as_str());

    let server = Server::start_with(&env, &[("DPS_PARTNER_SECRET", SECRET)]);
    let c = server.client(&server.token.clone().unwrap());
    rt.block_on(async {
        let a = call(
            &c,
            Method::POST,
            "/v1/groups",
            Some(json!({"name": "Partner", "default_target": "partner/acme"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let g = a.json()["id"].as_str().unwrap().to_owned();
        let devices = format!("/v1/groups/{g}/devices");
        let a = call(
            &c,
            Method::POST,
            &devices,
            Some(json!({"serial": "W-1", "model_id": "thermostat"})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let a = call(
            &c,
            Method::POST,
            &format!("{devices}:allocate"),
            Some(json!({"all": true})),
        )
        .await;
        assert_eq!(a.json()["succeeded"], 1, "{}", a.text());

        let snapshot = platform.snapshot();
        assert_eq!(
            snapshot.assets.len(),
            1,
            "the platform onboarded the device"
        );
        let (asset_id, asset) = snapshot.assets.iter().next().unwrap();
        assert_eq!(asset.serial, "W-1");
        let shown = call(&c, Method::GET, &format!("{devices}/W-1"), None).await;
        assert_eq!(
            shown.json()["asset_id"],
            asset_id.as_str(),
            "{}",
            shown.text()
        );

        let key = bootstrap_key(&c, &format!("{devices}:export?include_bootstrap_keys=true")).await;
        let key = key.as_str();
        let device = Client::new(server.addr);
        let a = call(
            &device,
            Method::POST,
            "/v1/bootstrap",
            Some(signed(&g, "W-1", key)),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let answer = a.json();
        assert_eq!(
            answer["credentials"]["product_key"],
            asset.product_key.as_str()
        );
        assert_eq!(
            answer["credentials"]["device_key"],
            asset.device_key.as_str()
        );
        assert_eq!(
            answer["endpoints"]["mqtt"],
            "mqtts://mqtt.partner.example.com:8883"
        );

        let a = call(
            &c,
            Method::POST,
            &format!("{devices}:reset"),
            Some(json!({"all": true})),
        )
        .await;
        assert_eq!(a.json()["succeeded"], 1, "{}", a.text());
        assert!(platform.snapshot().assets.is_empty(), "reset offboarded it");
    });
    assert!(server.stop().success());
}
