//! Test doubles for the suites of this and other crates (feature `testing`): an SMTP server
//! that keeps what it receives, to stand in for a relay or a customer's mail server.

use crate::smtp_server::{SmtpConfig, serve};
use crate::{Delivery, DeliveryError, MailSink};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};

/// Accepts every recipient and keeps every message.
#[derive(Default)]
pub struct Recorder {
    received: Mutex<Vec<Delivery>>,
    arrived: Notify,
}

impl Recorder {
    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl MailSink for Recorder {
    async fn accepts(&self, _address: &str) -> Result<bool, DeliveryError> {
        Ok(true)
    }

    async fn deliver(&self, delivery: Delivery) -> Result<(), DeliveryError> {
        if let Ok(mut r) = self.received.lock() {
            r.push(delivery);
        }
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// An SMTP server on a loopback port recording into a [`Recorder`]; stops when dropped.
pub struct SmtpSink {
    pub addr: SocketAddr,
    pub recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
}

impl SmtpSink {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let recorder = Arc::new(Recorder::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let sink: Arc<dyn MailSink> = recorder.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let config = SmtpConfig {
                hostname: "sink.test".into(),
                ..SmtpConfig::default()
            };
            let _ = serve(listener, config, sink, shutdown).await;
        });
        Ok(Self {
            addr,
            recorder,
            stop: Some(stop),
        })
    }

    /// Waits until at least `count` messages arrived (or `timeout` passed) and returns all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.recorder.arrived.notified();
            let received = self.recorder.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
