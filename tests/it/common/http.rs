//! HTTP helpers: scrape an endpoint, read one sample of a Prometheus exposition.

use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn get(url: &str) -> Option<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let mut response = agent.get(url).call().ok()?;
    let status = response.status().as_u16();
    Some((status, response.body_mut().read_to_string().ok()?))
}

/// One sample from the `/metrics` of the instance serving on `port` (0 while it is not
/// serving yet, or has not exported the series).
pub fn metric(port: u16, series: &str) -> f64 {
    match get(&format!("http://127.0.0.1:{port}/metrics")) {
        Some((200, body)) => sample(&body, series).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The value of one sample line of the exposition, e.g. `name{a="b"}`.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
