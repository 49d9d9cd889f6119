//! A TCP proxy on loopback that fails on command, put between the bot and a server it
//! talks to (the simulated product, PostgreSQL): it passes bytes through, resets every
//! connection, drips the server's answer a byte at a time, or cuts every open connection
//! at once. The server itself is never stopped (the PostgreSQL server is shared).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes go through both ways.
    Pass,
    /// A connection is taken, its first bytes read, then reset (RST) with no answer.
    Reset,
    /// The client's bytes go through; the server's come back one byte per interval.
    Drip(Duration),
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let (cut, _) = watch::channel(0u64);
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = {
            let (mode, cut, accepted) = (mode.clone(), cut.clone(), accepted.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let now = *mode.lock().unwrap();
                    tokio::spawn(serve(client, target, now, cut.subscribe()));
                }
            })
        };
        FaultProxy {
            addr,
            mode,
            cut,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, for a base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How new connections are treated from now on.
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Severs every connection open now (with a reset), as a server that went away does.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Connections taken so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut_all();
        self.task.abort();
    }
}

fn reset(stream: TcpStream) {
    // Linger 0: closing sends RST rather than FIN, as a crashed server or a proxy does.
    #[allow(deprecated)]
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

async fn serve(
    mut client: TcpStream,
    target: SocketAddr,
    mode: Mode,
    mut cut: watch::Receiver<u64>,
) {
    if mode == Mode::Reset {
        let mut first = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), client.read(&mut first)).await;
        reset(client);
        return;
    }
    let Ok(mut server) = TcpStream::connect(target).await else {
        reset(client);
        return;
    };
    let drip = match mode {
        Mode::Drip(every) => Some(every),
        _ => None,
    };
    let was_cut = {
        let (mut client_read, mut client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let up = tokio::io::copy(&mut client_read, &mut server_write);
        let down = async {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = server_read.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, std::io::Error>(());
                }
                match drip {
                    None => client_write.write_all(&buf[..n]).await?,
                    Some(every) => {
                        for byte in &buf[..n] {
                            client_write.write_all(std::slice::from_ref(byte)).await?;
                            tokio::time::sleep(every).await;
                        }
                    }
                }
            }
        };
        tokio::select! {
            _ = up => false,
            _ = down => false,
            _ = cut.changed() => true,
        }
    };
    if was_cut {
        reset(client);
        reset(server);
    } else {
        let _ = client.shutdown().await;
    }
}
