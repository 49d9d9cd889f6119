//! `healthcheck`: asks the bot's own `/readyz`, for a container's HEALTHCHECK (no curl in
//! the image). Exit 0 on 200, 1 otherwise, with one line saying why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use url::Url;

use super::ConfigArgs;

/// How long the whole check may take.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of a refusal's body is shown.
const REASON_CHARS: usize = 200;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The `/readyz` URL to ask (loopback only); default: derived from the configuration's
    /// `metrics_listen`, or `listen` (a wildcard address is asked on loopback).
    #[arg(long)]
    pub url: Option<Url>,
}

/// Runs the check and prints its one line: stdout when ready, stderr otherwise.
pub async fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    match check(args).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("not ready: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn check(args: HealthcheckArgs) -> Result<String, String> {
    let url = match args.url {
        Some(url) => given_url(url)?,
        None => {
            let config = crate::config::Config::load(&args.config.config).map_err(|e| {
                format!(
                    "{} has problems: {}",
                    args.config.config.display(),
                    e.problems.join("; ")
                )
            })?;
            readyz_url(config.metrics_listen.unwrap_or(config.listen))
        }
    };
    let http = reqwest::Client::builder()
        .timeout(HEALTHCHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))?;
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("cannot reach {url}: {}", chain(&e)))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let reason: String = body
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(REASON_CHARS)
        .collect();
    if status == reqwest::StatusCode::OK {
        Ok(format!("ready ({url})"))
    } else {
        Err(format!("{url} answered {status}: {reason}"))
    }
}

/// `--url`, if it is an http(s) URL on loopback: the check never contacts another host.
fn given_url(url: Url) -> Result<Url, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--url {url}: not an http or https URL"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if loopback {
        Ok(url)
    } else {
        Err(format!(
            "--url {url}: only a loopback address (127.0.0.1, [::1], localhost) is asked"
        ))
    }
}

/// `/readyz` on the address the bot binds; a wildcard address is asked on loopback.
pub fn readyz_url(addr: SocketAddr) -> Url {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let text = format!("http://{}/readyz", SocketAddr::new(ip, addr.port()));
    Url::parse(&text).unwrap_or_else(|_| unreachable!("{text} is a URL"))
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_asks_loopback_for_a_wildcard_address() {
        for (addr, url) in [
            ("0.0.0.0:9090", "http://127.0.0.1:9090/readyz"),
            ("[::]:3000", "http://[::1]:3000/readyz"),
            ("10.1.2.3:3000", "http://10.1.2.3:3000/readyz"),
            ("127.0.0.1:3000", "http://127.0.0.1:3000/readyz"),
        ] {
            assert_eq!(readyz_url(addr.parse().unwrap()).as_str(), url);
        }
    }

    #[test]
    fn a_given_url_must_be_on_loopback() {
        for ok in [
            "http://127.0.0.1:3000/readyz",
            "http://localhost:9090/readyz",
            "http://[::1]:1/readyz",
        ] {
            assert!(given_url(Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for refused in ["http://example.com/readyz", "file:///etc/passwd"] {
            assert!(
                given_url(Url::parse(refused).unwrap()).is_err(),
                "{refused}"
            );
        }
    }
}
