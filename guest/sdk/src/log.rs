//! Logging into the host's log stream, attributed to the plugin. In a
//! component it is the `logging` import; natively (tests) lines are kept in
//! memory for [`crate::testing::take_logs`].

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Write one log line.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::wasm::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    native::LINES.with(|l| l.borrow_mut().push((level, message.to_owned())));
}

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;

    thread_local! {
        pub(crate) static LINES: RefCell<Vec<(super::Level, String)>> = const { RefCell::new(Vec::new()) };
    }
}
