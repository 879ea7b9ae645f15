//! The PostgreSQL store over TLS, against a throwaway cluster that refuses plain TCP and serves a
//! certificate for `localhost` signed by a test authority: `sslmode=require` connects without
//! checking it, `verify-ca` checks the chain, `verify-full` the chain and the host name, and a
//! certificate from another authority or for another name is refused, saying why.

use fit_core::ids::TeamId;
use fit_server::store::ServerStore;
use fit_server::store::postgres::PgStore;
use fit_tests::postgres::{ServerTls, TempCluster};
use fit_tests::server::new_id;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A certificate authority, as PEM, and what it takes to sign with it.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Authority { pem, issuer: Issuer::new(params, key) }
}

/// The server's certificate for `localhost` (and no IP address), signed by `authority`.
fn server_tls(authority: &Authority) -> ServerTls {
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &authority.issuer).unwrap();
    ServerTls { cert_pem: cert.pem(), key_pem: key.serialize_pem() }
}

/// A store over `url`, shown to work by a write.
async fn connect_and_write(url: &str) -> anyhow::Result<()> {
    let store = PgStore::connect(url).await?;
    let team: TeamId = new_id();
    store.create_team(team, "Team TLS".into()).await?;
    Ok(())
}

fn refusal(result: anyhow::Result<()>) -> String {
    format!("{:#}", result.expect_err("the connection should have been refused"))
}

#[tokio::test]
async fn the_postgresql_store_speaks_tls_as_sslmode_asks_and_refuses_a_wrong_certificate() {
    let ours = authority("FIT Field test authority");
    let cluster = TempCluster::start_with_tls(&server_tls(&ours))
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL test cluster with TLS: {e:#}"));
    let url = cluster.create_database("tls").await.unwrap_or_else(|e| panic!("{e:#}\n{}", cluster.log()));
    let dir = tempfile::tempdir().unwrap();
    let (root, other_root) = (dir.path().join("root.pem"), dir.path().join("other.pem"));
    std::fs::write(&root, &ours.pem).unwrap();
    std::fs::write(&other_root, authority("Someone else").pem).unwrap();
    let by_name = url.replace("127.0.0.1", "localhost");
    let with = |url: &str, options: String| format!("{url}?{options}");

    // The cluster refuses plain TCP, so every connection that works below is encrypted.
    let plain = refusal(connect_and_write(&with(&url, "sslmode=disable".into())).await);
    assert!(plain.contains("no encryption"), "{plain}");
    connect_and_write(&with(&url, "sslmode=require".into())).await.unwrap();
    connect_and_write(&url).await.unwrap();
    let root_option = |mode: &str, root: &std::path::Path| format!("sslmode={mode}&sslrootcert={}", root.display());
    connect_and_write(&with(&by_name, root_option("verify-full", &root))).await.unwrap();
    connect_and_write(&with(&url, root_option("verify-ca", &root))).await.unwrap();

    let wrong_root = refusal(connect_and_write(&with(&by_name, root_option("verify-full", &other_root))).await);
    assert!(wrong_root.contains("sslmode=verify-full") && wrong_root.contains("UnknownIssuer"), "{wrong_root}");
    // libpq's rule: `require` with a root given checks the chain.
    let wrong_root = refusal(connect_and_write(&with(&url, root_option("require", &other_root))).await);
    assert!(wrong_root.contains("UnknownIssuer"), "{wrong_root}");
    let wrong_name = refusal(connect_and_write(&with(&url, root_option("verify-full", &root))).await);
    assert!(wrong_name.contains("certificate not valid for name \"127.0.0.1\""), "{wrong_name}");
}
