//! Channel bridges, the daemon's side (see `nodes::bridge` for what a
//! bridge is, and [`crate::cluster::bridge`] for its two ends, both in
//! the cluster link): news of this node's bridges go to their `bridge`
//! files; a channel file opened for another node to write is offered to
//! the link for that node's bridges (their frames go straight into the
//! channel), and withdrawn when it closes.

use crate::cluster::BridgeNews;

use super::Daemon;

impl Daemon {
    /// News of the bridge of file `id`.
    pub(super) fn bridge_news(&mut self, id: u64, news: BridgeNews) {
        if let Some((open, mut cx)) = self.file_mut(id) {
            open.file.bridge_news(&mut cx, news);
        }
    }

    /// File `id` was opened for node `from`: if it is a channel opened
    /// for writing, that node's bridges may write into it.
    pub(super) fn offer_frames(&mut self, from: &str, id: u64) {
        let ring = self.files.get(&id).and_then(|open| open.file.frames_into());
        if let (Some(ring), Some(cluster)) = (ring, &self.cluster) {
            cluster.accept_frames(from, id, ring, self.kernel.lock().region_watcher());
        }
    }

    /// Closes file `id` of node `from` (the link drops its frames).
    pub(super) fn close_theirs(&mut self, from: &str, id: u64) {
        if let Some(cluster) = &self.cluster {
            cluster.refuse_frames(from, id);
        }
        self.remote.forget_file(id, from);
        self.close(id);
    }
}
