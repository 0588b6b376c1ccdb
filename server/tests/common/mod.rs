//! A real `capstan` process on a free loopback port, killed when dropped.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capstan_proto::etcdserverpb::kv_client::KvClient;
use capstan_proto::etcdserverpb::lease_client::LeaseClient;
use capstan_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use capstan_proto::etcdserverpb::watch_client::WatchClient;
use tonic::transport::Channel;

pub struct Member {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub client_port: u16,
    pub peer_port: u16,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Member {
    pub fn start(extra_args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut m = Member {
            child: None,
            data_dir: tmp.path().join("data"),
            client_port: free_port(),
            peer_port: free_port(),
            _tmp: Some(tmp),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        m.spawn();
        m
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn spawn(&mut self) {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.data_dir.with_extension("log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capstan"));
        cmd.args(["--name", "t1", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t1={peer}")])
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("start capstan"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        while Instant::now() < deadline {
            // The ports were free when chosen, but another process may have
            // taken one since: a fresh member (nothing written yet) moves to
            // new ports; a restarted one must keep its peer URL, so it fails.
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = self.log();
                if log.contains("address already in use")
                    && !self.data_dir.join("member").join("db").join("CURRENT").exists()
                {
                    self.client_port = free_port();
                    self.peer_port = free_port();
                    self.spawn();
                    return;
                }
                panic!("capstan exited while starting; log: {log}");
            }
            let ok = rt.block_on(async {
                let Ok(mut kv) = KvClient::connect(self.endpoint()).await else { return false };
                kv.range(capstan_proto::etcdserverpb::RangeRequest { key: b"health".to_vec(), ..Default::default() })
                    .await
                    .is_ok()
            });
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("capstan did not become ready; log: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension("log")).unwrap_or_default()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn restart_after_kill9(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn data_path(&self) -> &Path {
        &self.data_dir
    }

    pub async fn kv(&self) -> KvClient<Channel> {
        KvClient::connect(self.endpoint()).await.unwrap()
    }

    pub async fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::connect(self.endpoint()).await.unwrap()
    }

    pub async fn watch(&self) -> WatchClient<Channel> {
        WatchClient::connect(self.endpoint()).await.unwrap()
    }

    pub async fn maintenance(&self) -> MaintenanceClient<Channel> {
        MaintenanceClient::connect(self.endpoint()).await.unwrap()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}
