//! Licensed scale packs reach the device: installed on a real server (SQLite, and PostgreSQL when
//! a test cluster starts), fetched by a device at sync and shown at once (full text in place of
//! the short labels); a sync with nothing new stays one request; a broken pack is refused by
//! `install-pack` with its file and field and leaves the server's packs as they were.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fit_core::ScaleSet;
use fit_core::pack::{Admitted, BUILT_IN_PACKS};
use fit_device::sync::{Get, Http, Post, Reply, SyncClient, SyncConfig, SyncError, Transport};
use fit_protocol::ErrorCode;
use fit_server::store::ServerStore;
use fit_server::{InstallError, install_pack};
use fit_tests::app::{DEVICE_PIN, enrolled_device, now_ms};
use fit_tests::licensed_ors;
use fit_tests::server::{LiveServer, create_caseload};
use serde_json::Value;

/// The HTTP transport the app ships, counting the requests it carries.
#[derive(Debug, Clone)]
struct Counting {
    http: Http,
    posts: Arc<AtomicU32>,
    gets: Arc<AtomicU32>,
}

impl Counting {
    fn new() -> Counting {
        let http = Http::new(std::time::Duration::from_secs(30), false).unwrap();
        Counting { http, posts: Arc::default(), gets: Arc::default() }
    }

    /// (POSTs, GETs) since the last call.
    fn take(&self) -> (u32, u32) {
        (self.posts.swap(0, Ordering::SeqCst), self.gets.swap(0, Ordering::SeqCst))
    }
}

impl Transport for Counting {
    async fn post(&self, post: Post) -> Result<Reply, SyncError> {
        self.posts.fetch_add(1, Ordering::SeqCst);
        self.http.post(post).await
    }

    async fn get(&self, get: Get) -> Result<Reply, SyncError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.http.get(get).await
    }
}

/// The whole story over one backend.
async fn packs_reach_the_device<S: ServerStore>(store: S) {
    let server = LiveServer::start_with(store, None, None, |_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let transport = Counting::new();
    let client = SyncClient::over(transport.clone(), SyncConfig::default());
    let (_dir, device) = enrolled_device(&server, caseload.worker, &client).await.unwrap();
    transport.take();

    // The first sync learns the server's tag: the built-in packs, which the device has.
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(transport.take(), (1, 1), "a sync and one fetch of the packs");
    assert_eq!(*device.lock().unwrap().scales(), ScaleSet::built_in().unwrap());
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(transport.take(), (1, 0), "nothing new: one request");

    // A licence holder's full text, installed on the server.
    let admitted = install_pack(
        &server.store,
        "licensed/ors.json",
        &licensed_ors("licensed-1", "Individuelt – fuld tekst"),
        now_ms(),
    )
    .await
    .unwrap();
    assert!(matches!(admitted, Admitted::Updated { ref replaces, .. } if replaces == "short-labels-1"), "{admitted:?}");
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(transport.take(), (1, 1), "the tag changed: the packs are fetched");
    {
        let device = device.lock().unwrap();
        let ors = device.scales().find("ors").unwrap();
        assert!(ors.full_text);
        assert_eq!(ors.version, "licensed-1");
        assert_eq!(ors.items[0].text.da.as_deref(), Some("Individuelt – fuld tekst"));
        assert_eq!(ors.items[0].text.en.as_deref(), Some("Individuelt – fuld tekst (en)"));
    }
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(transport.take(), (1, 0), "current again: one request");

    // Installing the same pack again is nothing new; a broken one is refused with its file and
    // field and changes nothing.
    let same = licensed_ors("licensed-1", "Individuelt – fuld tekst");
    assert_eq!(install_pack(&server.store, "again.json", &same, now_ms()).await.unwrap(), Admitted::Unchanged);
    let before = server.store.scale_packs().await.unwrap();
    let refusals = [
        (licensed_ors("licensed-1", "Other words"), "version", ErrorCode::PackVersionReused),
        (b"{ \"resourceType\": \"Questionnaire\"".to_vec(), ".", ErrorCode::PackInvalid),
        (
            String::from_utf8(licensed_ors("licensed-2", "x"))
                .unwrap()
                .replace("\"socially\"", "\"social\"")
                .into_bytes(),
            "item[2].linkId",
            ErrorCode::PackChanged,
        ),
    ];
    for (bytes, field, code) in refusals {
        let error = install_pack(&server.store, "broken/ors.json", &bytes, now_ms()).await.unwrap_err();
        let InstallError::Pack(pack) = &error else { panic!("{error}") };
        assert_eq!(
            (pack.file.as_str(), pack.field.as_str(), error.code()),
            ("broken/ors.json", field, code),
            "{error}"
        );
        assert_eq!(server.store.scale_packs().await.unwrap(), before, "{error} changed the server's packs");
    }
    client.sync_now(&device, |_| {}).await.unwrap();
    assert_eq!(transport.take(), (1, 0), "nothing reached the device");

    // An update replaces the licensed text; the device that unlocks again keeps using it.
    install_pack(&server.store, "licensed/ors-2.json", &licensed_ors("licensed-2", "Individuelt (2)"), now_ms())
        .await
        .unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    {
        let mut device = device.lock().unwrap();
        assert_eq!(device.scales().find("ors").unwrap().items[0].text.da.as_deref(), Some("Individuelt (2)"));
        // The app ends and starts again: the store is read afresh.
        device.close();
        device.unlock(DEVICE_PIN).unwrap();
        let ors = device.scales().find("ors").unwrap();
        assert_eq!((ors.version.as_str(), ors.full_text), ("licensed-2", true));
    }
    server.shut_down().await;
}

#[tokio::test]
async fn packs_reach_the_device_from_a_sqlite_server() {
    let dir = tempfile::tempdir().unwrap();
    let store = fit_server::store::sqlite::SqliteStore::open(&dir.path().join("server.db")).unwrap();
    packs_reach_the_device(store).await;
}

#[tokio::test]
async fn packs_reach_the_device_from_a_postgres_server() {
    let cluster = fit_tests::postgres::TempCluster::shared()
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster: {e:#}"));
    let url = cluster.create_database("packs").await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    let store = fit_server::store::postgres::PgStore::connect(&url).await.unwrap();
    packs_reach_the_device(store).await;
}

/// The endpoint itself: the current packs with their tag as the ETag, `304` for that tag.
#[tokio::test]
async fn the_scale_packs_endpoint_answers_304_for_the_current_tag() {
    let server = LiveServer::start(|_| {}).await.unwrap();
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let transport = Counting::new();
    let client = SyncClient::over(transport.clone(), SyncConfig::default());
    let (_dir, device) = enrolled_device(&server, caseload.worker, &client).await.unwrap();
    client.sync_now(&device, |_| {}).await.unwrap();
    let tag = device.lock().unwrap().packs_tag().unwrap().unwrap();
    let token = device.lock().unwrap().store_mut().unwrap().sync_settings().unwrap().unwrap().1;
    let get = |tag: Option<String>| Get {
        url: format!("{}/api/v1/scale-packs", server.url()),
        token: token.clone(),
        if_none_match: tag,
        pin: None,
    };
    let http = Http::new(std::time::Duration::from_secs(30), false).unwrap();
    let reply = http.get(get(Some(tag.clone()))).await.unwrap();
    assert_eq!(reply.status, 304);
    let reply = http.get(get(Some("an-old-tag".into()))).await.unwrap();
    assert_eq!(reply.status, 200);
    let packs: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(packs.len(), BUILT_IN_PACKS.len());

    install_pack(&server.store, "licensed/ors.json", &licensed_ors("licensed-1", "Fuld tekst"), now_ms())
        .await
        .unwrap();
    let reply = http.get(get(Some(tag))).await.unwrap();
    assert_eq!(reply.status, 200, "a new pack: the old tag is not current");
    let packs: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
    assert!(packs.iter().any(|p| p["id"] == "ors" && p["version"] == "licensed-1"));
}
