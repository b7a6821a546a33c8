//! A small in-memory TTL cache with per-key single flight: concurrent lookups of one key wait
//! for the first, lookups of different keys run in parallel.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One key's slot: the value and when it was stored.
type Slot<V> = Arc<tokio::sync::Mutex<Option<(V, Instant)>>>;

/// A keyed cache whose entries are fresh for `ttl`.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    slots: Mutex<HashMap<K, Slot<V>>>,
}

/// What a fetch decided to store.
pub enum Fetched<V> {
    /// Store and return this value.
    Store(V),
    /// Return this value without storing it; a stale stored value wins when there is one.
    Transient(V),
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache.
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slots: Mutex::new(HashMap::new()) }
    }

    /// The fresh value of `key`, else the result of `fetch`. A [`Fetched::Transient`] answer
    /// (a failed lookup) falls back to the stale value when one exists, without refreshing its
    /// age, so a stale answer is never mistaken for a fresh one.
    pub async fn get_or_fetch<F, Fut>(&self, key: &K, fetch: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Fetched<V>>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(key.clone()).or_default().clone()
        };
        let mut entry = slot.lock().await;
        if let Some((value, stored)) = entry.as_ref()
            && stored.elapsed() < self.ttl
        {
            return value.clone();
        }
        match fetch().await {
            Fetched::Store(value) => {
                *entry = Some((value.clone(), Instant::now()));
                value
            }
            Fetched::Transient(value) => entry.as_ref().map_or(value, |(stale, _)| stale.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn fresh_values_are_reused_and_failures_fall_back_to_stale_ones() {
        let cache: TtlCache<&str, u32> = TtlCache::new(Duration::from_secs(60));
        let calls = AtomicUsize::new(0);
        let fetch = |v: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Fetched::Store(v) }
        };
        assert_eq!(cache.get_or_fetch(&"a", || fetch(1)).await, 1);
        assert_eq!(cache.get_or_fetch(&"a", || fetch(2)).await, 1, "fresh entry reused");
        assert_eq!(cache.get_or_fetch(&"b", || fetch(3)).await, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let expired: TtlCache<&str, u32> = TtlCache::new(Duration::ZERO);
        assert_eq!(expired.get_or_fetch(&"a", || async { Fetched::Store(1) }).await, 1);
        assert_eq!(expired.get_or_fetch(&"a", || async { Fetched::Transient(9) }).await, 1, "stale value beats a failure");
        assert_eq!(expired.get_or_fetch(&"a", || async { Fetched::Store(2) }).await, 2, "expired entries are refetched");
        assert_eq!(expired.get_or_fetch(&"z", || async { Fetched::Transient(9) }).await, 9);
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_key_fetch_once() {
        let cache: Arc<TtlCache<u8, u8>> = Arc::new(TtlCache::new(Duration::from_secs(60)));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_fetch(&1, || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Fetched::Store(7)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("join"), 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
