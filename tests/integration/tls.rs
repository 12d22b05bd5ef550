//! Encrypted, authenticated links: a node against a PostgreSQL that takes TLS connections
//! only and a Redis that speaks only TLS and wants a password, both with certificates of a
//! throwaway CA made here. Everything works with the CA; without it, without TLS, or with a
//! wrong password, the node refuses to start and says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::own_postgres::OwnPostgres;
use crate::support::*;

const REDIS_PASSWORD: &str = "tls-test-redis-password";

/// A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(
            at("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                &path(&at("ca.key")),
                "-out",
                &path(&at("ca.pem")),
            ],
            &["-days", "2", "-subj", "/CN=chat-node test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]);
        openssl(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                &path(&at("server.key")),
                "-out",
                &path(&at("server.csr")),
            ],
            &["-subj", "/CN=localhost"],
        ]);
        openssl(&[
            &["x509", "-req", "-in", &path(&at("server.csr"))][..],
            &["-CA", &path(&at("ca.pem")), "-CAkey", &path(&at("ca.key"))],
            &[
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &path(&at("server.crt")),
            ],
            &["-extfile", &path(&at("server.ext"))],
        ]);
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn openssl(args: &[&[&str]]) {
    let args: Vec<&str> = args.concat();
    let out = Command::new("openssl").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Redis that speaks only TLS (no plain port) and wants a password.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    async fn start(certs: &Certs) -> TlsRedis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .args(["--tls-cert-file", &path(&certs.path("server.crt"))])
            .args(["--tls-key-file", &path(&certs.path("server.key"))])
            .args(["--tls-ca-cert-file", &path(&certs.path("ca.pem"))])
            .args(["--tls-auth-clients", "no", "--requirepass", REDIS_PASSWORD])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server with TLS did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        TlsRedis { child, port }
    }

    fn url(&self, password: &str) -> String {
        format!("rediss://:{password}@127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the node binary with `args` and expects it to give up at start: answers what it
/// said (stderr).
fn refused_at_start(args: &[String]) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-node"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--static-dir",
            "/nonexistent",
            "--data-dir",
        ])
        .arg(data.path())
        .args(["--db-timeout", "3s", "--redis-timeout", "3s"])
        .args(args)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success(), "{said}");
    eprintln!("refused at start: {}", said.trim());
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_uses_tls_to_postgres_and_redis_and_refuses_what_it_cannot_trust() {
    let certs = Certs::make();
    let Some(postgres) = OwnPostgres::start_tls(certs.dir.path()) else {
        return;
    };
    let Some(_plain) = RedisServer::start().await else {
        return;
    };
    let redis = TlsRedis::start(&certs).await;
    let ca = path(&certs.path("ca.pem"));
    let verified = format!("{}?sslmode=verify-full&sslrootcert={ca}", postgres.url);

    // With the CA: the node is ready (store and broker), and chats.
    let node = NodeSpec::new(&Backend::Postgres(verified.clone()))
        .flag("redis-url", &redis.url(REDIS_PASSWORD))
        .flag("redis-ca-file", &ca)
        .spawn(0)
        .await;
    let api = node.api();
    eventually("the node is ready over TLS", || {
        let api = api.clone();
        async move { api.get("/api/ready").await.0 == 200 }
    })
    .await;
    let (_, ready) = api.get("/api/ready").await;
    assert_eq!(
        (ready["store"].as_str(), ready["broker"].as_str()),
        (Some("ok"), Some("ok"))
    );
    let code = api.create_room().await;
    let mut ada = api.joined(&code, "ada").await;
    assert_eq!(ada.say(&code, "over TLS").await["ok"], true);
    let (status, _) = api
        .post(
            "/api/messages",
            json!({"roomCode": code, "sender": "hook", "content": "also"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        api.history(&code, "").await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // --db-ca-file does what sslrootcert does.
    let via_flag = NodeSpec::new(&Backend::Postgres(format!(
        "{}?sslmode=verify-full",
        postgres.url
    )))
    .flag("db-ca-file", &ca)
    .spawn(0)
    .await;
    assert_eq!(via_flag.api().get("/api/ready").await.0, 200);
    drop((node, via_flag));

    let database = |url: &str| vec!["--database-url".to_owned(), url.to_owned()];
    // PostgreSQL: no CA the node trusts, no TLS at all, a CA for another name.
    let said = refused_at_start(&database(&format!("{}?sslmode=verify-full", postgres.url)));
    assert!(said.contains("certificate"), "{said}");
    let said = refused_at_start(&database(&postgres.url));
    assert!(
        said.contains("no encryption") || said.contains("pg_hba"),
        "{said}"
    );
    assert!(
        said.contains("sslmode"),
        "the refusal says what to set: {said}"
    );
    // A certificate for another name: refused by verify-full, taken by verify-ca (the same
    // server, reached as a name its certificate does not carry).
    let other_name = postgres.url.replace("@127.0.0.1:", "@db.other.example:");
    let other_name = format!("{other_name}?hostaddr=127.0.0.1&sslrootcert={ca}");
    let said = refused_at_start(&database(&format!("{other_name}&sslmode=verify-full")));
    assert!(said.contains("certificate"), "{said}");
    let verify_ca = NodeSpec::new(&Backend::Postgres(format!(
        "{other_name}&sslmode=verify-ca"
    )))
    .spawn(0)
    .await;
    assert_eq!(verify_ca.api().get("/api/ready").await.0, 200);
    drop(verify_ca);

    // Redis: a wrong password, no CA the node trusts.
    let with_redis = |url: String, ca: Option<&str>| {
        let mut args = database(&verified);
        args.extend(["--redis-url".to_owned(), url]);
        if let Some(ca) = ca {
            args.extend(["--redis-ca-file".to_owned(), ca.to_owned()]);
        }
        args
    };
    let said = refused_at_start(&with_redis(redis.url("not-the-password"), Some(&ca)));
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(
        !said.contains("not-the-password"),
        "the password is not shown: {said}"
    );
    let said = refused_at_start(&with_redis(redis.url(REDIS_PASSWORD), None));
    assert!(said.contains("certificate"), "{said}");
}
