//! The server's network shell on loopback, with short limits set for each test: headers or a
//! body trickled in are cut within a bound while health checks go on being answered; a flood of
//! idle connections is shed and the server recovers, and one address cannot take every
//! connection; wrong enrollment codes from one address
//! and syncs with one token are rate-limited with 429 and Retry-After, which the device engine
//! reads; requests over the cap get 503 with Retry-After; and a real device enrolls and syncs
//! over TLS with a pinned self-signed certificate, while plain HTTP to the TLS port fails cleanly.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fit_device::sync::{Http, SyncClient, SyncConfig, SyncError};
use fit_device::{Device, SystemClock};
use fit_protocol::{ErrorCode, PROTOCOL_VERSION};
use fit_server::AppState;
use fit_server::net::{NetConfig, Shed, tls_acceptor};
use fit_server::store::ServerStore;
use fit_server::store::sqlite::SqliteStore;
use fit_tests::app::now_ms;
use fit_tests::app::set_up_device;
use fit_tests::server::{LiveServer, create_caseload, enrollment_code, new_id};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bound for anything the server must do "within a bound" on a loaded CI machine.
const BOUND: Duration = Duration::from_secs(10);

/// A server with `net` as its shell's limits, and the counts of what it shed.
async fn server_with(net: NetConfig) -> (LiveServer, Arc<Shed>) {
    let mut shed = None;
    let server = LiveServer::start(|state: &mut AppState<SqliteStore>| {
        state.net = net;
        shed = Some(state.shed.clone());
    })
    .await
    .unwrap();
    (server, shed.unwrap())
}

fn short_timeouts() -> NetConfig {
    NetConfig {
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..NetConfig::generous()
    }
}

/// Answers `GET /api/v1/health` within `BOUND`, on a connection of its own.
async fn health_answers(base: &str) -> bool {
    let http = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let answer = http.get(format!("{base}/api/v1/health")).send().await;
    answer.is_ok_and(|a| a.status() == 200)
}

/// Health, asked half a second into a slow client's request (before the server cuts it).
async fn health_meanwhile(base: String) -> bool {
    tokio::time::sleep(Duration::from_millis(500)).await;
    health_answers(&base).await
}

/// Reads until the server closes the connection; what it sent, or `None` if it kept it open
/// past `BOUND`.
async fn read_until_closed(stream: &mut tokio::net::tcp::OwnedReadHalf) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.ok().map(|()| seen)
}

/// Writes `head`, then `trickle` a byte every 100 ms, until the server closes the connection.
fn trickle(mut write: tokio::net::tcp::OwnedWriteHalf, head: String, trickle: &'static [u8]) {
    tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for byte in trickle.iter().cycle() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
}

#[tokio::test]
async fn headers_trickled_in_are_cut_while_health_is_answered() {
    let (server, _) = server_with(short_timeouts()).await;
    let (mut read, write) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let started = Instant::now();
    trickle(write, "POST /api/v1/sync HTTP/1.1\r\nHost: fit\r\n".into(), b"X-Slow: a\r\n");
    let (cut, meanwhile) = tokio::join!(read_until_closed(&mut read), health_meanwhile(server.url()));
    assert!(cut.is_some(), "a client trickling its headers was not cut within {BOUND:?}");
    assert!(meanwhile, "health was not answered while a client trickled its headers");
    println!("headers trickled: cut after {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test]
async fn a_body_trickled_in_is_cut_with_408_while_health_is_answered() {
    let (server, shed) = server_with(short_timeouts()).await;
    let (mut read, write) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let head = "POST /api/v1/enroll HTTP/1.1\r\nHost: fit\r\nContent-Type: application/json\r\n\
                Content-Length: 100000\r\n\r\n{\"code\":\""
        .to_owned();
    trickle(write, head, b"a");
    let (cut, meanwhile) = tokio::join!(read_until_closed(&mut read), health_meanwhile(server.url()));
    let answer = String::from_utf8_lossy(&cut.expect("a trickled body was not cut within the bound")).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request.timeout""#), "{answer}");
    assert!(meanwhile, "health was not answered while a client trickled its body");
    assert_eq!(shed.timed_out.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (server, _) = server_with(short_timeouts()).await;
    let (mut read, mut write) = TcpStream::connect(server.addr).await.unwrap().into_split();
    write.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: fit\r\n\r\n").await.unwrap();
    let seen = read_until_closed(&mut read).await.expect("an idle kept-alive connection stayed open");
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"), "the request before was answered");
}

#[tokio::test]
async fn a_flood_of_idle_connections_is_shed_and_health_answers_within_a_bound() {
    const CAP: usize = 16;
    const FLOOD: usize = 80;
    let net = NetConfig { max_connections: CAP, header_timeout: Duration::from_secs(2), ..NetConfig::generous() };
    let (server, shed) = server_with(net).await;
    let mut idle = Vec::new();
    for _ in 0..FLOOD {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Every connection past the cap is closed as soon as it is accepted.
    let excess = u64::try_from(FLOOD - CAP).unwrap();
    let deadline = Instant::now() + BOUND;
    while shed.connections.load(std::sync::atomic::Ordering::Relaxed) < excess && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shed.connections.load(std::sync::atomic::Ordering::Relaxed) >= excess, "the excess stayed open");
    let mut closed = 0;
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(BOUND, stream.read(&mut byte)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, FLOOD, "every idle connection is closed in the end, the held ones by the header timeout");
    let started = Instant::now();
    assert!(health_answers(&server.url()).await, "health did not answer after the flood");
    assert!(started.elapsed() < BOUND);
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    const PER_ADDRESS: usize = 8;
    // A long header timeout: health must be answered while the flood's connections are held.
    let net = NetConfig {
        max_connections_per_ip: PER_ADDRESS,
        header_timeout: Duration::from_secs(60),
        ..NetConfig::generous()
    };
    let (server, shed) = server_with(net).await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let deadline = Instant::now() + BOUND;
    while shed.connections.load(std::sync::atomic::Ordering::Relaxed) < 32 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shed.connections.load(std::sync::atomic::Ordering::Relaxed), 32, "all past the address's cap");
    // Another client (127.0.0.2 is this machine too) is served at once.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(BOUND)
        .build()
        .unwrap();
    let answer = other.get(format!("{}/api/v1/health", server.url())).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    drop(idle);
}

#[tokio::test]
async fn wrong_enrollment_codes_from_one_address_get_429_with_retry_after() {
    const PER_MINUTE: u32 = 5;
    let (server, shed) = server_with(NetConfig { enroll_per_ip: PER_MINUTE, ..NetConfig::generous() }).await;
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let good = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let http = reqwest::Client::new();
    let enroll = |code: String| {
        let body = serde_json::json!({"protocol": PROTOCOL_VERSION, "code": code, "device": new_id::<uuid::Uuid>()});
        http.post(format!("{}/api/v1/enroll", server.url())).json(&body).send()
    };
    for attempt in 0..PER_MINUTE {
        let answer = enroll(format!("wrong-{attempt}")).await.unwrap();
        assert_eq!(answer.status(), 422, "attempt {attempt} is refused for its code");
    }
    // Past the allowance even the right code is turned away, and nothing is enrolled.
    let limited = enroll(good.clone()).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["code"], ErrorCode::RateLimited.as_str());
    assert!(server.store.devices().await.unwrap().is_empty());
    assert_eq!(shed.rate_limited.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(health_answers(&server.url()).await, "health is not rate-limited");
}

struct TestDevice {
    _dir: tempfile::TempDir,
    device: Mutex<Device>,
}

fn new_device() -> TestDevice {
    let dir = tempfile::tempdir().unwrap();
    let device = set_up_device(dir.path(), "975310", Arc::new(SystemClock)).unwrap();
    TestDevice { _dir: dir, device }
}

#[tokio::test]
async fn syncs_past_a_tokens_allowance_get_429_and_the_device_reads_retry_after() {
    const PER_MINUTE: u32 = 3;
    let (server, _) = server_with(NetConfig { sync_per_token: PER_MINUTE, ..NetConfig::generous() }).await;
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let client = SyncClient::new(SyncConfig::default()).unwrap();
    let device = new_device();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    client.enroll(&device.device, &server.url(), &code, None).await.unwrap();
    // The allowance counts requests: the first run also fetches the scale packs (its answer
    // carries a packs tag the device has not seen), so it spends two.
    for _ in 0..PER_MINUTE - 1 {
        client.sync_now(&device.device, |_| {}).await.unwrap();
    }
    match client.sync_now(&device.device, |_| {}).await {
        Err(SyncError::Busy { retry_after: Some(after) }) => assert!(after >= Duration::from_secs(1)),
        other => panic!("expected a rate-limited sync with Retry-After, got {other:?}"),
    }
    // Another device (another token) on the same address is not held back.
    let other = new_device();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    client.enroll(&other.device, &server.url(), &code, None).await.unwrap();
    client.sync_now(&other.device, |_| {}).await.unwrap();
}

#[tokio::test]
async fn requests_over_the_cap_get_503_with_retry_after() {
    let net = NetConfig { max_in_flight: 1, request_timeout: Duration::from_secs(8), ..NetConfig::generous() };
    let (server, shed) = server_with(net).await;
    // One request under way, its body never finished, holds the only slot.
    let (mut read, write) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let head = "POST /api/v1/enroll HTTP/1.1\r\nHost: fit\r\nContent-Type: application/json\r\n\
                Content-Length: 100000\r\n\r\n{"
        .to_owned();
    trickle(write, head, b" ");
    let http = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let deadline = Instant::now() + BOUND;
    let busy = loop {
        let answer = http.get(format!("{}/api/v1/health", server.url())).send().await.unwrap();
        if answer.status() == 503 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "2");
    let body: serde_json::Value = busy.json().await.unwrap();
    assert_eq!(body["code"], ErrorCode::ServerBusy.as_str());
    assert!(shed.busy.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    // When the slow request is cut, its slot is free again.
    assert!(read_until_closed(&mut read).await.is_some());
    assert!(health_answers(&server.url()).await);
}

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
fn self_signed(dir: &std::path::Path) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (certified.cert.pem(), cert, key)
}

#[tokio::test]
async fn a_device_enrolls_and_syncs_over_tls_with_a_pinned_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = self_signed(dir.path());
    let store = SqliteStore::open(&dir.path().join("server.db")).unwrap();
    let tls = tls_acceptor(&cert, &key).unwrap();
    let server = LiveServer::start_tls(store.clone(), None, None, Some(tls), |_| {}).await.unwrap();
    let addr = server.addr;
    let url = format!("https://localhost:{}", addr.port());
    let caseload = create_caseload(&server.store, now_ms()).await.unwrap();
    let config = SyncConfig::default();
    let client = SyncClient::over(Http::new(config.request_timeout, false).unwrap(), config);
    let device = new_device();
    let code = enrollment_code(&server.store, caseload.worker, now_ms()).await.unwrap();
    let enrolled = |device: &TestDevice| device.device.lock().unwrap().store_mut().unwrap().sync_settings().unwrap();

    // Without the pin the device trusts only the public authorities, and sends nothing.
    let refused = client.enroll(&device.device, &url, &code, None).await;
    assert!(matches!(refused, Err(SyncError::Offline(_))), "{refused:?}");
    // Pinned to another certificate, to something that is not a certificate, or to a plain
    // http address: refused, and the device is not enrolled.
    let (other_pem, _, _) = self_signed(tempfile::tempdir().unwrap().path());
    let wrong = client.enroll(&device.device, &url, &code, Some(&other_pem)).await;
    assert!(matches!(wrong, Err(SyncError::Offline(_))), "{wrong:?}");
    let garbage = client.enroll(&device.device, &url, &code, Some("not a certificate")).await;
    assert!(matches!(garbage, Err(SyncError::Insecure(_))), "{garbage:?}");
    let plain = client.enroll(&device.device, &server.url(), &code, Some(&pem)).await;
    assert!(matches!(plain, Err(SyncError::Insecure(_))), "{plain:?}");
    assert_eq!(enrolled(&device), None, "nothing refused enrolled the device");

    let answer = client.enroll(&device.device, &url, &code, Some(&pem)).await.unwrap();
    assert_eq!(answer.worker, caseload.worker);
    client.sync_now(&device.device, |_| {}).await.unwrap();
    let citizens = device.device.lock().unwrap().caseload_overview().unwrap();
    assert_eq!(citizens.len(), 1, "the caseload arrived over TLS");
    let pinned = device.device.lock().unwrap().store_mut().unwrap().server_certificate().unwrap();
    assert_eq!(pinned.as_deref(), Some(pem.trim()), "the certificate is kept with the sync settings");

    // Plain HTTP to the TLS port is not answered and hangs no one.
    let plain = reqwest::Client::builder().timeout(BOUND).build().unwrap();
    let started = Instant::now();
    let answer = plain.get(format!("http://{addr}/api/v1/health")).send().await;
    assert!(answer.is_err(), "plain HTTP was answered on the TLS port: {answer:?}");
    assert!(started.elapsed() < BOUND);
    client.sync_now(&device.device, |_| {}).await.unwrap();

    // Another server on the same address with another certificate (one a public authority might
    // have issued for the name): the enrolled device sends it nothing, and keeps its data.
    {
        let mut device = device.device.lock().unwrap();
        let citizen = device.caseload_overview().unwrap()[0].citizen.id;
        device.start_visit(citizen).unwrap();
    }
    drop(server.shut_down().await);
    let other_dir = tempfile::tempdir().unwrap();
    let (_, other_cert, other_key) = self_signed(other_dir.path());
    let impostor =
        LiveServer::start_tls(store, None, Some(addr), Some(tls_acceptor(&other_cert, &other_key).unwrap()), |_| {})
            .await
            .unwrap();
    let before = impostor.store.changes().await.unwrap().len();
    let refused = client.sync_now(&device.device, |_| {}).await;
    assert!(matches!(refused, Err(SyncError::Offline(_))), "{refused:?}");
    assert_eq!(impostor.store.changes().await.unwrap().len(), before, "nothing reached the other certificate");
    assert!(enrolled(&device).is_some(), "the device is still enrolled");
    let pending = device.device.lock().unwrap().store_mut().unwrap().pending_count().unwrap();
    assert_eq!(pending, 1, "the visit waits for the enrolled server");
}
