//! A cap on the connections one identity holds open to a process at once: a client cannot
//! exhaust a server by opening connections without end.

use crate::Connection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Connections open per certificate name, up to a maximum.
#[derive(Debug)]
pub struct ConnectionLimit {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl ConnectionLimit {
    /// At most `max` connections per certificate name.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, open: Mutex::default() })
    }

    /// Counts `connection` against its peer's name while the returned guard lives; a connection
    /// over the maximum is refused (closed with the reason) and `None` returned.
    pub fn admit(self: &Arc<Self>, connection: &Connection) -> Option<ConnectionSlot> {
        let name = connection.peer_name().unwrap_or_default();
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(name.clone()).or_default();
        if *count >= self.max {
            drop(open);
            let reason =
                format!("{name:?} holds {} connections already, the most one certificate may", self.max);
            connection.refuse(&name, &reason);
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { limit: self.clone(), name })
    }
}

/// One admitted connection, counted until dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    limit: Arc<ConnectionLimit>,
    name: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.name);
            }
        }
    }
}
