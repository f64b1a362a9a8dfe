//! Mail over TLS as operators run it: STARTTLS on the submission port and TLS from the first
//! byte, each against a real SMTP server (aiosmtpd) with a certificate the test made and
//! trusts; without that trust the send fails and nothing is delivered. Skipped without
//! aiosmtpd, except in CI.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use creditline::config::{MailConfig, MailTransport, SmtpConfig, SmtpTls};
use creditline::domain::OutboxId;
use creditline::email::transport::Mailer;

struct Sink {
    _child: common::Reaped,
    port: u16,
    maildir: PathBuf,
}

/// A certificate for `localhost` and its key, written into `dir`: (root.pem, key.pem).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    let (root, key_file) = (dir.join("root.pem"), dir.join("key.pem"));
    std::fs::write(&root, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (root, key_file)
}

fn sink(dir: &Path, mode: &str, cert: &Path, key: &Path) -> Option<Sink> {
    let Some(py) = common::python_with_aiosmtpd() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "aiosmtpd is not installed; CI must run the SMTP tests");
        eprintln!("aiosmtpd not installed: SMTP TLS test skipped");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let maildir = dir.join(format!("maildir-{mode}"));
    let mut child = Command::new(py)
        .arg(common::repo().join("src/sim/smtp_sink.py"))
        .args(["--port", &port.to_string(), "--tls", mode, "--maildir"])
        .arg(&maildir)
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start aiosmtpd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("ready"), "aiosmtpd did not start: {line:?}");
    Some(Sink { _child: common::Reaped(child), port, maildir })
}

fn delivered(maildir: &Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
        .flat_map(|entries| entries.flatten())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

fn mailer(port: u16, tls: SmtpTls, root: Option<PathBuf>) -> Mailer {
    let config = MailConfig {
        transport: MailTransport::Smtp,
        smtp: SmtpConfig {
            host: "localhost".into(),
            port,
            tls,
            timeout_seconds: 5,
            pool_size: 1,
            test_only_root_certificate: root,
            ..Default::default()
        },
        ..Default::default()
    };
    Mailer::from_config(&config).expect("mailer")
}

fn message(subject: &str) -> lettre::Message {
    lettre::Message::builder()
        .from("WaveSpeedAI <support@wavespeed.ai>".parse().unwrap())
        .to("ana@pixelpress.studio".parse().unwrap())
        .subject(subject)
        .body(String::from("Hello over TLS."))
        .unwrap()
}

#[test]
fn starttls_and_implicit_tls_deliver_only_to_a_trusted_server() {
    let dir = tempfile::tempdir().unwrap();
    let (root, key) = certificate(dir.path());
    for (mode, tls) in [("starttls", SmtpTls::Starttls), ("implicit", SmtpTls::Tls)] {
        let Some(server) = sink(dir.path(), mode, &root, &key) else { return };
        common::rt().block_on(async {
            // The server's certificate is no public root's: refused, nothing delivered.
            let untrusted = mailer(server.port, tls, None).send(OutboxId::new(), message("untrusted")).await;
            assert!(untrusted.is_err(), "{mode}: an unknown certificate must be refused");
            assert!(delivered(&server.maildir).is_empty(), "{mode}");
            // Trusted: delivered, and the server saw TLS.
            mailer(server.port, tls, Some(root.clone()))
                .send(OutboxId::new(), message(&format!("over {mode}")))
                .await
                .unwrap_or_else(|e| panic!("{mode}: {e}"));
        });
        let got = delivered(&server.maildir);
        assert_eq!(got.len(), 1, "{mode}");
        assert!(got[0].starts_with("X-Sim-Tls: TLSv1."), "{mode}: {}", got[0]);
        assert!(got[0].contains(&format!("Subject: over {mode}")), "{mode}");
    }
}
