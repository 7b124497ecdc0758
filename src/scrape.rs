//! Server-side metrics during a run: poll the target's Prometheus endpoint and derive a few
//! series a capacity planner asks about (cache hit ratio, pool use, queue depth, CPU, memory).
//!
//! Invariant: scraping never fails a run — an unreachable or malformed endpoint only leaves a
//! series without points and a count of failed scrapes. Derivations are pure ([`derive`]);
//! only [`Scraper`] does I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::results::ServerSeries;
pub(crate) use crate::server_series::{Expr, SERIES, Selector, SeriesDef};

/// One scrape reduced to the sums the series need.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reading {
    /// Seconds since the run's start.
    pub t: f64,
    sums: BTreeMap<(String, Option<(String, String)>), f64>,
}

impl Reading {
    /// Parse Prometheus text exposition at time `t`, keeping what `defs` need.
    pub(crate) fn parse(text: &str, t: f64, defs: &[SeriesDef]) -> Result<Self, String> {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| e.to_string())?;
        let mut sums = BTreeMap::new();
        for sel in defs.iter().flat_map(|d| selectors(d.expr)) {
            let total: Option<f64> = scrape
                .samples
                .iter()
                .filter(|s| s.metric == sel.metric)
                .filter(|s| sel.label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
                .filter_map(|s| match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => Some(v),
                    _ => None,
                })
                .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v));
            if let Some(total) = total {
                sums.insert(key(sel), total);
            }
        }
        Ok(Self { t, sums })
    }

    fn get(&self, sel: Selector) -> Option<f64> {
        self.sums.get(&key(sel)).copied()
    }
}

fn key(sel: Selector) -> (String, Option<(String, String)>) {
    (
        sel.metric.to_owned(),
        sel.label.map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
}

fn selectors(expr: Expr) -> Vec<Selector> {
    match expr {
        Expr::Gauge(s) | Expr::Rate(s) => vec![s],
        Expr::ShareOfIncrease { num, other } => vec![num, other],
        Expr::GaugeRatio { num, den } => vec![num, den],
    }
}

/// Value of each series at `cur` (rates and shares need `prev`). Series without data are absent.
pub(crate) fn derive(
    defs: &[SeriesDef],
    prev: Option<&Reading>,
    cur: &Reading,
) -> Vec<(&'static str, f64)> {
    let increase = |sel: Selector| -> Option<f64> {
        let (a, b) = (prev?.get(sel)?, cur.get(sel)?);
        // A counter that went down was reset (a restart): its new value is the increase.
        Some(if b >= a { b - a } else { b })
    };
    defs.iter()
        .filter_map(|d| {
            let value = match d.expr {
                Expr::Gauge(s) => cur.get(s),
                Expr::Rate(s) => {
                    let dt = cur.t - prev?.t;
                    (dt > 0.0).then_some(increase(s)? / dt)
                }
                Expr::ShareOfIncrease { num, other } => {
                    let (n, o) = (increase(num)?, increase(other).unwrap_or(0.0));
                    (n + o > 0.0).then_some(n / (n + o))
                }
                Expr::GaugeRatio { num, den } => {
                    let d = cur.get(den)?;
                    (d > 0.0).then_some(cur.get(num)? / d)
                }
            }?;
            Some((d.name, value))
        })
        .collect()
}

/// Polls a metrics endpoint in the background and collects the series.
#[derive(Debug, Clone)]
pub(crate) struct Scraper {
    series: Arc<Mutex<Vec<ServerSeries>>>,
}

impl Scraper {
    /// Start polling `url` every `every` until the returned scraper is [`stop`](Self::stop)ped.
    pub(crate) fn start(
        url: String,
        start: Instant,
        every: Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let scraper = Self {
            series: Arc::new(Mutex::new(
                SERIES
                    .iter()
                    .map(|d| ServerSeries {
                        name: d.name.into(),
                        unit: d.unit.into(),
                        points: Vec::new(),
                    })
                    .collect(),
            )),
        };
        let s = scraper.clone();
        let handle = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut prev: Option<Reading> = None;
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let t = start.elapsed().as_secs_f64();
                let text = match client
                    .get(&url)
                    .timeout(every.max(Duration::from_secs(1)))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => r.text().await.ok(),
                    _ => None,
                };
                let Some(reading) = text.and_then(|t_| Reading::parse(&t_, t, SERIES).ok()) else {
                    continue;
                };
                let values = derive(SERIES, prev.as_ref(), &reading);
                let mut series = s.series.lock().unwrap_or_else(PoisonError::into_inner);
                for (name, v) in values {
                    if let Some(ser) = series.iter_mut().find(|x| x.name == name) {
                        ser.points.push((t, v));
                    }
                }
                drop(series);
                prev = Some(reading);
            }
        });
        (scraper, handle)
    }

    /// The series so far (only those with points).
    pub(crate) fn series(&self) -> Vec<ServerSeries> {
        self.series
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|s| !s.points.is_empty())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "# TYPE cache_hits_total counter\ncache_hits_total{ns=\"items\"} 10\ncache_hits_total{ns=\"lists\"} 5\ncache_misses_total{ns=\"items\"} 5\ndb_pool_connections{state=\"in_use\"} 3\ndb_pool_connections{state=\"idle\"} 7\ndb_pool_max_connections 20\nprocess_cpu_seconds_total 1.5\n";
    const B: &str = "cache_hits_total{ns=\"items\"} 40\ncache_hits_total{ns=\"lists\"} 5\ncache_misses_total{ns=\"items\"} 15\ndb_pool_connections{state=\"in_use\"} 5\ndb_pool_connections{state=\"idle\"} 5\ndb_pool_max_connections 20\nprocess_cpu_seconds_total 2.5\n";

    fn value(v: &[(&str, f64)], name: &str) -> Option<f64> {
        v.iter().find(|(n, _)| *n == name).map(|(_, x)| *x)
    }

    #[test]
    fn derives_ratios_rates_and_gauges() {
        let a = Reading::parse(A, 0.0, SERIES).expect("parses");
        let b = Reading::parse(B, 2.0, SERIES).expect("parses");
        let first = derive(SERIES, None, &a);
        assert_eq!(value(&first, "db_pool_in_use"), Some(3.0));
        assert_eq!(
            value(&first, "cache_hit_ratio"),
            None,
            "a share needs two scrapes"
        );
        let v = derive(SERIES, Some(&a), &b);
        // Hits rose by 30, misses by 10.
        assert_eq!(value(&v, "cache_hit_ratio"), Some(0.75));
        assert_eq!(value(&v, "db_pool_utilisation"), Some(0.25));
        assert_eq!(value(&v, "process_cpu_cores"), Some(0.5));
        assert_eq!(
            value(&v, "queue_depth"),
            None,
            "absent metrics give no value"
        );
    }

    #[test]
    fn counter_reset_counts_from_zero() {
        let a = Reading::parse("process_cpu_seconds_total 100\n", 0.0, SERIES).expect("parses");
        let b = Reading::parse("process_cpu_seconds_total 1\n", 1.0, SERIES).expect("parses");
        assert_eq!(
            value(&derive(SERIES, Some(&a), &b), "process_cpu_cores"),
            Some(1.0)
        );
    }
}
