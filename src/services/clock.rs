//! Time comes from a clock object so that billing cycles and time-outs can be simulated
//! month by month in tests.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A clock read from a file that another process writes (`test_only_clock_file`): the
/// simulation's serve and worker processes share one time this way. Each reading opens the
/// file; a file that cannot be read or parsed keeps the last good time (a writer replaces it
/// by rename, so a half-written file is never seen, but a missing one must not stop time
/// from being told).
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
    last: Mutex<DateTime<Utc>>,
}

impl FileClock {
    /// Opens the clock; the file must hold a valid time now.
    pub fn open(path: &std::path::Path) -> Result<FileClock, String> {
        let at = read_clock_file(path)?;
        Ok(FileClock { path: path.to_path_buf(), last: Mutex::new(at) })
    }

    /// Writes `at` into `path` for every reader (write then rename: readers never see half).
    pub fn write(path: &std::path::Path, at: DateTime<Utc>) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, at.to_rfc3339())?;
        std::fs::rename(&tmp, path)
    }
}

fn read_clock_file(path: &std::path::Path) -> Result<DateTime<Utc>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("clock file {}: {e}", path.display()))?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("clock file {}: not an RFC 3339 time: {e}", path.display()))
}

impl Clock for FileClock {
    fn now(&self) -> DateTime<Utc> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(at) = read_clock_file(&self.path) {
            // Time never runs backwards for a reader, whatever the file says.
            *last = at.max(*last);
        }
        *last
    }
}

/// The clock the configuration asks for: the system clock, or a simulation's clock file.
pub fn from_config(config: &crate::config::Config) -> anyhow::Result<std::sync::Arc<dyn Clock>> {
    match &config.test_only_clock_file {
        None => Ok(std::sync::Arc::new(SystemClock)),
        Some(path) => {
            tracing::warn!(file = %path.display(), "test_only_clock_file: time comes from a file; never in production");
            Ok(std::sync::Arc::new(FileClock::open(path).map_err(|e| anyhow::anyhow!(e))?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_clock_follows_its_file_and_never_runs_backwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        let t0 = DateTime::parse_from_rfc3339("2027-01-01T09:00:00Z").unwrap().with_timezone(&Utc);
        assert!(FileClock::open(&path).is_err(), "no file, no clock");
        FileClock::write(&path, t0).unwrap();
        let clock = FileClock::open(&path).unwrap();
        assert_eq!(clock.now(), t0);
        FileClock::write(&path, t0 + Duration::days(1)).unwrap();
        assert_eq!(clock.now(), t0 + Duration::days(1));
        FileClock::write(&path, t0).unwrap();
        assert_eq!(clock.now(), t0 + Duration::days(1), "never backwards");
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(clock.now(), t0 + Duration::days(1), "a bad file keeps the last good time");
    }
}
