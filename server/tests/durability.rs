//! Nothing acknowledged is lost: concurrent writers record every key the
//! server acknowledged, the process is killed with SIGKILL mid-stream,
//! and after restart every recorded key must be there with its value.

mod common;

use std::sync::Arc;

use capstan_proto::etcdserverpb::{PutRequest, RangeRequest};
use parking_lot::Mutex;

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut member = common::Member::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    for round in 0..3 {
        let endpoint = member.endpoint();
        let acked_round = acked.clone();
        let writers = rt.spawn(async move {
            let mut tasks = Vec::new();
            for w in 0..16 {
                let endpoint = endpoint.clone();
                let acked = acked_round.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(mut kv) = capstan_proto::etcdserverpb::kv_client::KvClient::connect(endpoint).await else {
                        return;
                    };
                    // Bounded: stops at 100 000 writes or at the first error (the kill).
                    for i in 0..100_000 {
                        let key = format!("r{round}/w{w}/k{i}");
                        let value = format!("v{i}-{w}");
                        let req =
                            PutRequest { key: key.clone().into(), value: value.clone().into(), ..Default::default() };
                        match kv.put(req).await {
                            Ok(_) => acked.lock().push((key, value)),
                            Err(_) => return,
                        }
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(1500));
        member.kill9();
        rt.block_on(writers).unwrap();
        member.restart_after_kill9();
        let expected = acked.lock().clone();
        assert!(expected.len() > 100, "round {round}: too few writes acknowledged ({})", expected.len());
        rt.block_on(async {
            let mut kv = member.kv().await;
            for (key, value) in &expected {
                let resp = kv
                    .range(RangeRequest { key: key.clone().into(), ..Default::default() })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(resp.kvs.len(), 1, "acknowledged key {key} lost after kill -9 (round {round})");
                assert_eq!(resp.kvs[0].value, value.as_bytes());
            }
        });
        eprintln!("round {round}: {} acknowledged keys all present after kill -9", expected.len());
    }
}
